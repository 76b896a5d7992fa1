-- Posture profiles' typed checks of issue 8 and their optional CEL
-- condition. Maps and lists are JSON ('{}' and '[]' are none); booleans
-- are 0 or 1; 0 days is no limit; '' is none. Validated before stored.
ALTER TABLE posture_profiles ADD COLUMN min_os_versions TEXT NOT NULL DEFAULT '{}';
ALTER TABLE posture_profiles ADD COLUMN screen_lock INTEGER NOT NULL DEFAULT 0;
ALTER TABLE posture_profiles ADD COLUMN secure_boot INTEGER NOT NULL DEFAULT 0;
ALTER TABLE posture_profiles ADD COLUMN auto_updates INTEGER NOT NULL DEFAULT 0;
ALTER TABLE posture_profiles ADD COLUMN max_days_since_update INTEGER NOT NULL DEFAULT 0;
ALTER TABLE posture_profiles ADD COLUMN min_agent_version TEXT NOT NULL DEFAULT '';
ALTER TABLE posture_profiles ADD COLUMN forbidden_software TEXT NOT NULL DEFAULT '[]';
ALTER TABLE posture_profiles ADD COLUMN required_files TEXT NOT NULL DEFAULT '[]';
ALTER TABLE posture_profiles ADD COLUMN sip INTEGER NOT NULL DEFAULT 0;
ALTER TABLE posture_profiles ADD COLUMN gatekeeper INTEGER NOT NULL DEFAULT 0;
ALTER TABLE posture_profiles ADD COLUMN antivirus INTEGER NOT NULL DEFAULT 0;
ALTER TABLE posture_profiles ADD COLUMN domain_joined INTEGER NOT NULL DEFAULT 0;
ALTER TABLE posture_profiles ADD COLUMN condition TEXT NOT NULL DEFAULT '';
