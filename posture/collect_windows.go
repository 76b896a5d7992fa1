package posture

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/shirou/gopsutil/v4/host"
)

const osFamily = "windows"

// winTimeout bounds the one PowerShell run; its start alone takes about a
// second on a busy laptop, and Get-MpComputerStatus can take another.
const winTimeout = 10 * time.Second

// winScript gathers every Windows fact in one PowerShell process (starting
// one per fact every few seconds would cost more than the facts are
// worth). Each section is its cmdlet's own ConvertTo-Json text, parsed by
// winparse.go as recorded in testdata/windows, or "error: " and the
// cmdlet's message. The script is a constant: nothing from outside is
// spliced into it.
const winScript = `$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
function Section([scriptblock]$b) { try { & $b } catch { 'error: ' + $_.Exception.Message } }
$o = [ordered]@{}
$o.BitLocker = Section { Get-BitLockerVolume -MountPoint $env:SystemDrive | Select-Object MountPoint,VolumeStatus,ProtectionStatus,EncryptionPercentage | ConvertTo-Json -Compress }
$o.Defender = Section { Get-MpComputerStatus | Select-Object AMRunningMode,AMServiceEnabled,AntivirusEnabled,RealTimeProtectionEnabled | ConvertTo-Json -Compress }
$o.Firewall = Section { Get-NetFirewallProfile -PolicyStore ActiveStore | Select-Object Name,Enabled,DefaultInboundAction | ConvertTo-Json -Compress }
$o.OS = Section { Get-CimInstance Win32_OperatingSystem | Select-Object Caption,Version,BuildNumber | ConvertTo-Json -Compress }
$o.Computer = Section { Get-CimInstance Win32_ComputerSystem | Select-Object PartOfDomain,Domain | ConvertTo-Json -Compress }
$o.ScreenLock = Section {
  $s = [ordered]@{ InactivityTimeoutSecs = $null; ScreenSaveActive = $null; ScreenSaverIsSecure = $null; ScreenSaveTimeOut = $null }
  $p = Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System' -ErrorAction SilentlyContinue
  if ($p) { $s.InactivityTimeoutSecs = $p.InactivityTimeoutSecs }
  if ([Security.Principal.WindowsIdentity]::GetCurrent().User.Value -ne 'S-1-5-18') {
    $d = Get-ItemProperty -Path 'HKCU:\Control Panel\Desktop' -ErrorAction SilentlyContinue
    if ($d) { $s.ScreenSaveActive = $d.ScreenSaveActive; $s.ScreenSaverIsSecure = $d.ScreenSaverIsSecure; $s.ScreenSaveTimeOut = $d.ScreenSaveTimeOut }
  }
  $s | ConvertTo-Json -Compress
}
$o.Update = Section {
  $u = [ordered]@{ NoAutoUpdate = $null; AUOptions = $null; PauseUpdatesExpiryTime = $null; ServiceStartType = $null }
  $p = Get-ItemProperty -Path 'HKLM:\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate\AU' -ErrorAction SilentlyContinue
  if ($p) { $u.NoAutoUpdate = $p.NoAutoUpdate; $u.AUOptions = $p.AUOptions }
  $x = Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\WindowsUpdate\UX\Settings' -ErrorAction SilentlyContinue
  if ($x) { $u.PauseUpdatesExpiryTime = $x.PauseUpdatesExpiryTime }
  $u.ServiceStartType = (Get-Service -Name wuauserv).StartType
  $u | ConvertTo-Json -Compress
}
$o.MachineGuid = Section { (Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\Cryptography' -Name MachineGuid).MachineGuid | ConvertTo-Json -Compress }
$o | ConvertTo-Json -Compress`

// powershellPath is Windows PowerShell 5.1, present on every supported
// Windows, by absolute path under the system root.
func powershellPath() string {
	root := os.Getenv("SystemRoot")
	if !filepath.IsAbs(root) {
		root = `C:\Windows`
	}
	return filepath.Join(root, `System32\WindowsPowerShell\v1.0\powershell.exe`)
}

// collectSlow runs winScript and parses each section. BitLocker needs an
// administrator (the agent service runs as LocalSystem); run by a user it
// stays unknown with PowerShell's reason.
func collectSlow(ctx context.Context) slowFacts {
	out := runCommand(ctx, winTimeout, nil, powershellPath(),
		"-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-Command", winScript)
	f := parseWinScript(out, time.Now())
	markMoreFactsUnread(&f)
	if !f.OSVersion.Known {
		// gopsutil reads the version from the registry, no PowerShell.
		if platform, _, version, err := host.PlatformInformationWithContext(ctx); err == nil && version != "" {
			if platform != "" {
				f.OSName = knownStringFrom(platform, "gopsutil host.PlatformInformation")
			}
			f.OSVersion = knownStringFrom(version, "gopsutil host.PlatformInformation")
		}
	}
	return f
}
