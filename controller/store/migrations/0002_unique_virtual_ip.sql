-- Two apps must never share a virtual IP: the gateway maps each
-- virtual IP:port to exactly one upstream.
CREATE UNIQUE INDEX apps_virtual_ip ON apps(virtual_ip) WHERE virtual_ip != '';
