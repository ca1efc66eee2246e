//! The probe set for the shipped hospital policy (`policies/hospital.kdl`,
//! evaluated on [`PROBE_DATE`]): one list of packets every target is held
//! to. Each probe names the rule the policy author expects to decide it, so
//! the evaluator tests check the reference semantics against known answers,
//! and the target tests (kernel, parsers) check every target against the
//! evaluator on the same packets.

/// The evaluation date the probe answers assume: the vendor grants
/// (expiring 2026-12-15) are active, the PACS migration (expired
/// 2026-06-30) is not.
pub const PROBE_DATE: &str = "2026-11-25";

/// A first packet of a flow and the rule expected to decide it
/// (`default` for the default deny).
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    pub what: &'static str,
    pub src: &'static str,
    pub dst: &'static str,
    /// `tcp/PORT`, `udp/PORT`, `icmp/NAME`, or a protocol name (`gre`).
    pub proto: &'static str,
    pub expect_rule: &'static str,
}

const fn p(
    what: &'static str,
    src: &'static str,
    dst: &'static str,
    proto: &'static str,
    expect_rule: &'static str,
) -> Probe {
    Probe {
        what,
        src,
        dst,
        proto,
        expect_rule,
    }
}

pub const HOSPITAL_PROBES: &[Probe] = &[
    // The Contec advisory block: both directions, every protocol, no allow
    // can precede it.
    p(
        "contec monitor to .119 telemetry port",
        "10.20.8.5",
        "202.114.4.119",
        "tcp/515",
        "contec-cms8000.out",
    ),
    p(
        "contec monitor NFS mount to .119",
        "10.20.8.5",
        "202.114.4.119",
        "udp/2049",
        "contec-cms8000.out",
    ),
    p(
        "contec monitor HL7 to .120",
        "10.20.8.5",
        "202.114.4.120",
        "tcp/2575",
        "contec-cms8000.out",
    ),
    p(
        "staff web to the blocked subnet despite staff-to-internet",
        "10.40.1.1",
        "202.114.4.1",
        "tcp/443",
        "contec-cms8000.out",
    ),
    p(
        "blocked subnet into the quarantine",
        "202.114.4.119",
        "10.20.8.5",
        "tcp/22",
        "contec-cms8000.in",
    ),
    p(
        "blocked subnet pinging the HL7 engine",
        "202.114.4.120",
        "10.10.21.10",
        "icmp/echo-request",
        "contec-cms8000.in",
    ),
    p(
        "blocked subnet to the DNS resolvers",
        "202.114.4.7",
        "10.10.0.53",
        "udp/53",
        "contec-cms8000.in",
    ),
    // Absolute guest isolation.
    p(
        "guest to a staff PC",
        "172.16.0.5",
        "10.40.1.1",
        "tcp/443",
        "guest-isolation",
    ),
    p(
        "guest to the DNS resolvers",
        "172.16.0.5",
        "10.10.0.53",
        "udp/53",
        "guest-isolation",
    ),
    p(
        "guest to the internet",
        "172.16.0.5",
        "8.8.8.8",
        "tcp/443",
        "guest-to-internet",
    ),
    p(
        "guest DNS to the internet",
        "172.16.0.5",
        "8.8.8.8",
        "udp/53",
        "guest-to-internet",
    ),
    // Contec monitors: only their central station; class edge at /25.
    p(
        "contec monitor to central station",
        "10.20.8.5",
        "10.10.20.30",
        "tcp/515",
        "contec-to-central-station",
    ),
    p(
        "last contec class address to central station",
        "10.20.8.127",
        "10.10.20.30",
        "tcp/515",
        "contec-to-central-station",
    ),
    p(
        "quarantine host outside the contec class",
        "10.20.8.128",
        "10.10.20.30",
        "tcp/515",
        "default",
    ),
    p(
        "contec monitor to central station, wrong port",
        "10.20.8.5",
        "10.10.20.30",
        "tcp/516",
        "default",
    ),
    p(
        "contec monitor to the internet",
        "10.20.8.5",
        "8.8.8.8",
        "tcp/443",
        "clinical-no-internet",
    ),
    // Longest-prefix zones: the ICU /16 contains the quarantine /24.
    p(
        "ICU monitor data export",
        "10.20.1.10",
        "10.10.20.30",
        "udp/24105",
        "monitor-data-export",
    ),
    p(
        "ICU monitor data export over IPv6",
        "fd42:1:0:200::150",
        "fd42:1:0:20::30",
        "udp/24105",
        "monitor-data-export",
    ),
    p(
        "IPv6 host outside the monitor class range",
        "fd42:1:0:200::200",
        "fd42:1:0:20::30",
        "udp/24105",
        "default",
    ),
    p(
        "ICU monitor using the contec port",
        "10.20.1.10",
        "10.10.20.30",
        "tcp/515",
        "default",
    ),
    p(
        "pump to pump server API",
        "10.20.4.7",
        "10.10.20.40",
        "tcp/8443",
        "pumps-to-pump-server",
    ),
    p(
        "last pump address to pump server https",
        "10.20.5.255",
        "10.10.20.40",
        "tcp/443",
        "pumps-to-pump-server",
    ),
    p(
        "first address past the pumps",
        "10.20.6.0",
        "10.10.20.40",
        "tcp/443",
        "default",
    ),
    // HL7 listener port range 6661-6670 and the MLLP port.
    p(
        "central station HL7 MLLP",
        "10.10.20.30",
        "10.10.21.10",
        "tcp/2575",
        "clinical-apps-to-hl7",
    ),
    p(
        "central station below the listener range",
        "10.10.20.30",
        "10.10.21.10",
        "tcp/6660",
        "default",
    ),
    p(
        "central station first listener port",
        "10.10.20.30",
        "10.10.21.10",
        "tcp/6661",
        "clinical-apps-to-hl7",
    ),
    p(
        "pump server last listener port",
        "10.10.20.40",
        "10.10.21.10",
        "tcp/6670",
        "clinical-apps-to-hl7",
    ),
    p(
        "pump server above the listener range",
        "10.10.20.40",
        "10.10.21.10",
        "tcp/6671",
        "default",
    ),
    p(
        "HL7 over UDP is not HL7",
        "10.10.20.30",
        "10.10.21.10",
        "udp/2575",
        "default",
    ),
    // Imaging and PACS (a range class 10.10.20.50-52).
    p(
        "CT to PACS DICOM 104",
        "10.30.1.10",
        "10.10.20.50",
        "tcp/104",
        "modalities-to-pacs",
    ),
    p(
        "MR to PACS DICOM 11112",
        "10.30.2.10",
        "10.10.20.52",
        "tcp/11112",
        "modalities-to-pacs",
    ),
    p(
        "CT to the address after PACS",
        "10.30.1.10",
        "10.10.20.53",
        "tcp/104",
        "default",
    ),
    p(
        "radiology workstation to PACS https",
        "10.40.5.9",
        "10.10.20.51",
        "tcp/443",
        "workstations-to-pacs",
    ),
    p(
        "staff PC to PACS https",
        "10.40.1.1",
        "10.10.20.51",
        "tcp/443",
        "staff-to-clinical-apps",
    ),
    p(
        "staff PC to PACS DICOM",
        "10.40.1.1",
        "10.10.20.51",
        "tcp/104",
        "default",
    ),
    // Infrastructure services.
    p(
        "pump DNS",
        "10.20.4.7",
        "10.10.0.53",
        "udp/53",
        "devices-to-dns-ntp",
    ),
    p(
        "CT NTP",
        "10.30.1.11",
        "10.10.0.123",
        "udp/123",
        "devices-to-dns-ntp",
    ),
    p(
        "ICU monitor syslog over TLS",
        "10.20.1.10",
        "10.10.0.14",
        "tcp/6514",
        "devices-to-syslog",
    ),
    p(
        "SNMP manager polls a pump",
        "10.10.0.161",
        "10.20.4.7",
        "udp/161",
        "device-monitoring",
    ),
    p(
        "SNMP manager pings a contec monitor",
        "10.10.0.161",
        "10.20.8.5",
        "icmp/echo-request",
        "device-monitoring",
    ),
    p(
        "staff PC pings DNS",
        "10.40.1.1",
        "10.10.0.53",
        "icmp/echo-request",
        "ping-infrastructure",
    ),
    p(
        "staff PC pings DNS over IPv6",
        "fd42:1::5",
        "fd42:1:0:10::53",
        "icmp/echo-request",
        "ping-infrastructure",
    ),
    p(
        "staff PC SSH to DNS",
        "10.40.1.1",
        "10.10.0.53",
        "tcp/22",
        "default",
    ),
    p(
        "resolver to the internet",
        "10.10.0.53",
        "8.8.8.8",
        "udp/53",
        "resolvers-to-internet",
    ),
    p(
        "resolver to the internet over IPv6",
        "fd42:1:0:10::53",
        "2001:db8::1",
        "tcp/53",
        "resolvers-to-internet",
    ),
    // Vendor access: active grants (expire 2026-12-15) and an expired one.
    p(
        "vendor to jump host",
        "198.51.100.7",
        "10.99.0.10",
        "tcp/443",
        "vendor-remote-support",
    ),
    p(
        "vendor straight to a CT",
        "198.51.100.7",
        "10.30.1.10",
        "tcp/22",
        "default",
    ),
    p(
        "jump host SSH to CT",
        "10.99.0.10",
        "10.30.1.10",
        "tcp/22",
        "vendor-jump-to-modalities",
    ),
    p(
        "jump host RDP to MR",
        "10.99.0.10",
        "10.30.2.10",
        "tcp/3389",
        "vendor-jump-to-modalities",
    ),
    p(
        "expired PACS migration",
        "10.10.20.50",
        "10.50.0.9",
        "tcp/104",
        "default",
    ),
    // No internet for clinical devices, with one exception.
    p(
        "CT to the vendor endpoint (exception)",
        "10.30.1.10",
        "203.0.113.50",
        "tcp/443",
        "ct-vendor-telemetry",
    ),
    p(
        "CT to the vendor endpoint, plain http",
        "10.30.1.10",
        "203.0.113.50",
        "tcp/80",
        "clinical-no-internet",
    ),
    p(
        "CT to the next internet address",
        "10.30.1.10",
        "203.0.113.51",
        "tcp/443",
        "clinical-no-internet",
    ),
    p(
        "MR to the vendor endpoint",
        "10.30.2.10",
        "203.0.113.50",
        "tcp/443",
        "clinical-no-internet",
    ),
    p(
        "pump to the internet over UDP",
        "10.20.4.7",
        "8.8.8.8",
        "udp/123",
        "clinical-no-internet",
    ),
    // Staff internet, both families.
    p(
        "staff web",
        "10.40.1.1",
        "8.8.8.8",
        "tcp/443",
        "staff-to-internet",
    ),
    p(
        "staff web over IPv6",
        "fd42:1::5",
        "2001:db8::1",
        "tcp/80",
        "staff-to-internet",
    ),
    p(
        "staff SSH to the internet",
        "10.40.1.1",
        "8.8.8.8",
        "tcp/22",
        "default",
    ),
    p(
        "internet to a staff PC",
        "8.8.8.8",
        "10.40.1.1",
        "tcp/443",
        "default",
    ),
];
