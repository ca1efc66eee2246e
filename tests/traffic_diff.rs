//! Traffic-diff known answers on the shipped hospital policy: each test
//! edits the policy the way a change request would and checks the exact
//! lines the diff reports (every line is one box of changed traffic; the
//! property tests in traffic_diff_props.rs check exactness in general).

use std::path::Path;

use wardwall::diff::traffic::{
    ChangeKind, Context, HighlightKind, Risk, Severity, TrafficDiff, traffic_diff,
};

const DATE: &str = "2026-11-25";

fn hospital() -> String {
    crate::common::read(crate::common::HOSPITAL)
}

/// Compiles the policy text next to a copy of the shipped advisory.
fn compile(dir: &Path, name: &str, text: &str) -> wardwall::Compiled {
    crate::common::copy_includes(dir);
    let path = dir.join(format!("{name}.kdl"));
    std::fs::write(&path, text).unwrap();
    let c = wardwall::compile(&path, DATE.parse().unwrap()).unwrap();
    assert!(!c.diagnostics.has_errors(), "{:?}", c.diagnostics);
    c
}

/// The diff of the hospital policy against `edit` applied to it.
fn diff_after(edit: impl Fn(String) -> String) -> TrafficDiff {
    let dir = tempfile::tempdir().unwrap();
    let old_text = hospital();
    let new_text = edit(old_text.clone());
    assert_ne!(old_text, new_text, "the edit applies");
    let old = compile(dir.path(), "old", &old_text);
    let new = compile(dir.path(), "new", &new_text);
    let ctx = Context::from_policies(old.policy.as_ref(), new.policy.as_ref());
    traffic_diff(old.ir.as_ref().unwrap(), new.ir.as_ref().unwrap(), &ctx)
}

fn replace(from: &'static str, to: &'static str) -> impl Fn(String) -> String {
    move |text: String| {
        assert!(text.contains(from), "{from}");
        text.replacen(from, to, 1)
    }
}

fn lines(d: &TrafficDiff) -> Vec<String> {
    d.changes
        .iter()
        .chain(&d.log_changes)
        .map(|c| c.line())
        .collect()
}

fn highlights(d: &TrafficDiff) -> Vec<(HighlightKind, String)> {
    d.changes
        .iter()
        .flat_map(|c| c.highlights.iter().map(|h| (h.kind, h.text.clone())))
        .collect()
}

/// Cuts the rule block starting with `header` (e.g. `allow "x"`) out of
/// `text`: returns the text without it and the block (up to its closing
/// brace at rule indentation, with the newline).
fn cut_rule(text: &str, header: &str) -> (String, String) {
    let start = text
        .find(&format!("    {header} {{"))
        .unwrap_or_else(|| panic!("{header}"));
    let end = start + text[start..].find("\n    }\n").unwrap() + "\n    }\n".len();
    (
        format!("{}{}", &text[..start], &text[end..]),
        text[start..end].to_string(),
    )
}

const RULES_START: &str = "rules {\n";

#[test]
fn adding_a_rule_allows_exactly_its_traffic() {
    let d = diff_after(replace(
        RULES_START,
        "rules {\n    allow \"contec-hl7\" {\n        from \"contec-monitors\"\n        to \"hl7-engine\"\n        service \"hl7-listeners\"\n    }\n",
    ));
    assert_eq!(
        lines(&d),
        [
            "+ allow   contec-monitors (10.20.8.0/25) → hl7-engine (10.10.21.10)  tcp/6661-6670  by rule contec-hl7 (was deny by the default rule)"
        ]
    );
    assert_eq!(
        highlights(&d),
        [
            (
                HighlightKind::AdvisoryClass,
                "newly allowed from devices under an advisory: contec-monitors (advisory contec-cms8000)"
                    .to_string()
            ),
            (
                HighlightKind::Clinical,
                "newly allowed from clinical devices: contec-monitors".to_string()
            ),
        ]
    );
    assert_eq!(d.changes[0].code, Risk::AdvisoryClassNewReach);
    assert_eq!((d.summary.newly_allowed, d.summary.newly_denied), (1, 0));
}

#[test]
fn removing_a_rule_denies_exactly_its_traffic_in_both_families() {
    let d = diff_after(|t| cut_rule(&t, "allow \"monitor-data-export\"").0);
    assert_eq!(
        lines(&d),
        [
            "- deny    icu-monitors (10.20.1.0/24) → central-station (10.10.20.30)  udp/24105  by the default rule (was allow by rule monitor-data-export)",
            "- deny    icu-monitors (fd42:1:0:200::100/120) → central-station (fd42:1:0:20::30)  udp/24105  by the default rule (was allow by rule monitor-data-export)",
        ]
    );
    assert!(d.changes.iter().all(|c| c.kind == ChangeKind::NewlyDenied));
    assert_eq!(
        highlights(&d),
        [
            (
                HighlightKind::ClinicalDenied,
                "newly denied from clinical devices: icu-monitors".to_string()
            ),
            (
                HighlightKind::ClinicalDenied,
                "newly denied from clinical devices: icu-monitors".to_string()
            ),
        ],
        "cutting monitors off from the central station is flagged"
    );
}

#[test]
fn a_reorder_that_keeps_every_verdict_shows_no_traffic_change() {
    // Move the clinical internet deny (with its exception) to the top of
    // the ordinary rules, and swap two unrelated allows.
    let d = diff_after(|t| {
        let (t, deny) = cut_rule(&t, "deny \"clinical-no-internet\"");
        let anchor = "    allow \"contec-to-central-station\" {";
        let t = t.replacen(anchor, &format!("{deny}\n{anchor}"), 1);
        let (t, pacs) = cut_rule(&t, "allow \"modalities-to-pacs\"");
        let anchor = "    allow \"pumps-to-pump-server\" {";
        t.replacen(anchor, &format!("{pacs}\n{anchor}"), 1)
    });
    assert!(d.is_empty(), "{:#?}", lines(&d));
}

#[test]
fn a_reorder_that_changes_verdicts_is_reported() {
    // A deny placed after the allow it overlaps hides nothing; moved above
    // it, it takes the traffic.
    let deny = "    deny \"no-rdp\" {\n        from \"vendor-jump-host\"\n        to \"imaging-modalities\"\n        service \"rdp\"\n    }\n";
    let after = |t: String| {
        t.replacen(
            "    allow \"pacs-migration\" {",
            &format!("{deny}    allow \"pacs-migration\" {{"),
            1,
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let old = compile(dir.path(), "old", &after(hospital()));
    let new = compile(
        dir.path(),
        "new",
        &hospital().replacen(RULES_START, &format!("{RULES_START}{deny}"), 1),
    );
    let d = traffic_diff(
        old.ir.as_ref().unwrap(),
        new.ir.as_ref().unwrap(),
        &Context::default(),
    );
    assert_eq!(
        lines(&d),
        [
            "- deny    vendor-jump-host (10.99.0.10) → imaging-modalities (10.30.1.10/31, 10.30.2.10)  tcp/3389, udp/3389  by rule no-rdp (was allow by rule vendor-jump-to-modalities)"
        ]
    );
}

#[test]
fn narrowing_a_port_range_denies_the_cut_ports() {
    let d = diff_after(replace("tcp \"6661-6670\"", "tcp \"6661-6665\""));
    assert_eq!(
        lines(&d),
        [
            "- deny    central-station + pump-server (10.10.20.30, 10.10.20.40) → hl7-engine (10.10.21.10)  tcp/6666-6670  by the default rule (was allow by rule clinical-apps-to-hl7)",
            "- deny    central-station (fd42:1:0:20::30) → hl7-engine (fd42:1:0:20::10)  tcp/6666-6670  by the default rule (was allow by rule clinical-apps-to-hl7)",
        ]
    );
}

#[test]
fn widening_an_exception_allows_the_new_part_only() {
    let d = diff_after(replace("to \"203.0.113.50\"", "to \"203.0.113.48/29\""));
    assert_eq!(
        lines(&d),
        [
            "+ allow   ct-scanners (10.30.1.10/31) → 203.0.113.48/31, 203.0.113.51, 203.0.113.52/30  tcp/443  by exception ct-vendor-telemetry (was deny by rule clinical-no-internet)"
        ]
    );
    assert_eq!(
        highlights(&d),
        [(
            HighlightKind::Clinical,
            "newly allowed from clinical devices: ct-scanners".to_string()
        )]
    );
}

#[test]
fn removing_an_advisory_block_is_highlighted() {
    let d = diff_after(|t| cut_rule(&t, "block-advisory \"contec-cms8000\"").0);
    // The monitors themselves stay denied (by clinical-no-internet now),
    // and inbound traffic falls to the logged default deny: no change. The
    // internet allows of other zones now reach the advisory's networks.
    assert_eq!(
        lines(&d),
        [
            "+ allow   dns-servers (10.10.0.53, 10.10.0.54) → contec-cms8000 (202.114.4.0/24)  tcp/53, udp/53  by rule resolvers-to-internet (was deny by advisory block contec-cms8000.out)",
            "+ allow   corporate (36 prefixes) → contec-cms8000 (202.114.4.0/24)  tcp/80, tcp/443  by rule staff-to-internet (was deny by advisory block contec-cms8000.out)",
            "+ allow   guest-wifi (172.16.0.0/16) → contec-cms8000 (202.114.4.0/24)  tcp/53, tcp/80, tcp/443, udp/53  by rule guest-to-internet (was deny by advisory block contec-cms8000.out)",
        ]
    );
    for c in &d.changes {
        let kinds: Vec<HighlightKind> = c.highlights.iter().map(|h| h.kind).collect();
        assert_eq!(
            kinds,
            [
                HighlightKind::AdvisoryBlock,
                HighlightKind::AdvisoryNetworks
            ]
        );
        assert_eq!(
            c.highlights[0].text,
            "was decided by advisory block contec-cms8000.out (advisory contec-cms8000)"
        );
    }
    assert_eq!(d.summary.highlighted, 3);
}

#[test]
fn a_log_flag_change_is_a_logging_change_not_a_traffic_change() {
    let d = diff_after(replace(
        "        service \"monitor-data-export\"\n",
        "        service \"monitor-data-export\"\n        log #true\n",
    ));
    assert!(d.changes.is_empty());
    assert_eq!(d.summary.log_only, 2);
    assert_eq!(
        lines(&d)[0],
        "~ allow, logged       icu-monitors (10.20.1.0/24) → central-station (10.10.20.30)  udp/24105  by rule monitor-data-export (was allow, not logged, by rule monitor-data-export)"
    );
}

/// Many changes: Markdown stays bounded (200 lines, 50 attention items) and
/// says how many it left out; text and JSON keep everything.
#[test]
fn markdown_fits_long_traffic_diffs_in_the_budget_and_counts_the_rest() {
    use wardwall::addrset::AddrSet;
    use wardwall::ir::{Action, Endpoint, Ir, Rule, RuleOrigin, Service, ServiceSet};
    let host = |a: &str| AddrSet::from_addr(a.parse().unwrap());
    let rule = |i: usize| Rule {
        name: format!("r{i}"),
        origin: RuleOrigin::Rule,
        action: Action::Allow,
        absolute: false,
        src: Endpoint {
            refs: Vec::new(),
            addrs: host(&format!("10.0.{}.{}", i / 100, 1 + 2 * (i % 100))),
        },
        dst: Endpoint {
            refs: Vec::new(),
            addrs: host(&format!("10.9.{}.{}", i / 100, 1 + 2 * (i % 100))),
        },
        service: Service {
            refs: Vec::new(),
            set: ServiceSet {
                tcp: wardwall::addrset::IntervalSet::single(80),
                ..ServiceSet::default()
            },
        },
        log: false,
        description: None,
        owner: None,
        ticket: None,
        expires: None,
        span: Default::default(),
    };
    let old = Ir {
        targets: Vec::new(),
        name: "p".into(),
        description: None,
        zones: Vec::new(),
        objects: Default::default(),
        services: Default::default(),
        rules: Vec::new(),
        default_action: Action::Deny,
        default_log: true,
    };
    let mut new = old.clone();
    new.rules = (0..250).map(rule).collect();
    let ctx = Context {
        clinical: vec![("devices".to_string(), host("10.9.0.0").complement())],
        ..Context::default()
    };
    let d = traffic_diff(&old, &new, &ctx);
    assert_eq!(d.summary.newly_allowed, 250, "one line per host pair");
    assert_eq!(d.summary.highlighted, 250);
    let md = wardwall::diff::to_markdown(&[], Some(&d), None, &Default::default());
    assert!(
        md.contains("| (no rendered changes) | 0 | +0 | -0 | 250 | 0 |"),
        "{md}"
    );
    // Within the comment's budget, every change is listed or counted, in
    // the attention list and in the full list alike.
    assert!(
        md.len() <= wardwall::diff::DEFAULT_BUDGET,
        "{} bytes",
        md.len()
    );
    let counted = |prefix: &str, what: &str| -> usize {
        md.lines()
            .filter_map(|l| l.strip_prefix(prefix))
            .filter(|l| l.contains(what))
            .map(|l| l.split(' ').next().unwrap().parse::<usize>().unwrap())
            .sum()
    };
    let listed = md.matches("\n+ allow ").count();
    let more = counted("… and ", "more traffic changes not shown");
    assert!(listed > 0 && more > 0, "{md}");
    assert_eq!(listed + more, 250, "{md}");
    let attention = md.matches("\n- <code>").count();
    let more_attention = counted("- … and ", "more that need attention");
    assert!(attention > 0 && more_attention > 0, "{md}");
    assert_eq!(attention + more_attention, 250, "{md}");
    let text = wardwall::diff::traffic::to_text(&d, false);
    assert_eq!(
        text.lines().filter(|l| l.starts_with("+ allow ")).count(),
        250
    );
}

/// The hospital policy compiled on `old_date` against `edit` of it on
/// `new_date`, with the diff evaluated on `new_date`.
fn diff_on(old_date: &str, new_date: &str, edit: impl Fn(String) -> String) -> TrafficDiff {
    let dir = tempfile::tempdir().unwrap();
    let old_text = hospital();
    let new_text = edit(old_text.clone());
    let at = |name: &str, text: &str, date: &str| {
        crate::common::copy_includes(dir.path());
        let path = dir.path().join(format!("{name}.kdl"));
        std::fs::write(&path, text).unwrap();
        wardwall::compile(&path, date.parse().unwrap()).unwrap()
    };
    let old = at("old", &old_text, old_date);
    let new = at("new", &new_text, new_date);
    let ctx = Context::from_policies(old.policy.as_ref(), new.policy.as_ref())
        .on(new_date.parse().unwrap());
    traffic_diff(old.ir.as_ref().unwrap(), new.ir.as_ref().unwrap(), &ctx)
}

const CONTEC_INTERNET: &str = "rules {\n    allow \"contec-cloud\" {\n        from \"contec-monitors\"\n        to \"internet\"\n        service \"https\"\n    }\n";

#[test]
fn changes_are_ranked_by_risk_with_a_stable_code() {
    // Two edits in one change: Contec monitors (under the advisory) get
    // internet egress, and the DICOM port of modalities-to-pacs moves.
    let d = diff_after(|t| {
        let t = replace(RULES_START, CONTEC_INTERNET)(t);
        replace(
            "        service \"dicom\" \"dicom-tls\"\n",
            "        service \"dicom-tls\"\n",
        )(t)
    });
    let codes: Vec<(Risk, Severity)> = d.changes.iter().map(|c| (c.code, c.severity)).collect();
    assert_eq!(
        codes[0],
        (Risk::AdvisoryClassNewReach, Severity::Critical),
        "{:#?}",
        lines(&d)
    );
    let top = &d.changes[0];
    assert_eq!(top.kind, ChangeKind::NewlyAllowed);
    let top_codes: Vec<Risk> = top.highlights.iter().map(|h| h.code).collect();
    assert_eq!(
        top_codes,
        [Risk::AdvisoryClassNewReach, Risk::ClinicalInternetEgress],
        "clinical egress to the internet and the advisory class are both named"
    );
    assert!(
        top.highlights[0]
            .text
            .contains("contec-monitors (advisory contec-cms8000)"),
        "{}",
        top.highlights[0].text
    );
    // The DICOM cut: imaging modalities are clinical, so their flow is
    // newly denied, high, and below the critical change.
    let dicom: Vec<&wardwall::diff::traffic::Change> = d
        .changes
        .iter()
        .filter(|c| c.new.rule.is_none() && c.old.rule.as_deref() == Some("modalities-to-pacs"))
        .collect();
    assert!(!dicom.is_empty());
    for c in &dicom {
        assert_eq!(
            (c.code, c.severity),
            (Risk::ClinicalFlowDenied, Severity::High)
        );
    }
    let first_dicom = d
        .changes
        .iter()
        .position(|c| c.old.rule.as_deref() == Some("modalities-to-pacs"))
        .unwrap();
    let last_contec = d
        .changes
        .iter()
        .rposition(|c| c.new.rule.as_deref() == Some("contec-cloud"))
        .unwrap();
    assert!(last_contec < first_dicom, "worst first");
    // Codes are sorted worst first over the whole list.
    assert!(d.changes.windows(2).all(|w| w[0].code <= w[1].code));
}

#[test]
fn a_port_move_between_non_clinical_hosts_is_other_and_low() {
    let d = diff_after(replace(
        "        from \"dns-servers\"\n        to \"internet\"\n        service \"dns\"\n",
        "        from \"dns-servers\"\n        to \"internet\"\n        service \"https\"\n",
    ));
    assert!(!d.changes.is_empty());
    for c in &d.changes {
        assert_eq!(
            (c.code, c.severity),
            (Risk::Other, Severity::Low),
            "{}",
            c.line()
        );
        assert!(c.highlights.is_empty());
    }
}

#[test]
fn removing_an_advisory_block_weakens_it_critically() {
    let d = diff_after(|t| cut_rule(&t, "block-advisory \"contec-cms8000\"").0);
    for c in &d.changes {
        assert_eq!(c.code, Risk::AdvisoryBlockWeakened);
        assert_eq!(
            c.highlights[0].tagged().split(']').next(),
            Some("[critical advisory-block-weakened")
        );
    }
}

#[test]
fn a_rule_that_expired_says_so() {
    // vendor-remote-support expires on 2026-12-15: active on the old date,
    // gone from the new IR on the new date without anyone removing it.
    let d = diff_on("2026-12-01", "2026-12-20", |t| t);
    let expired: Vec<String> = lines(&d)
        .into_iter()
        .filter(|l| l.contains("vendor-remote-support"))
        .collect();
    assert_eq!(
        expired,
        [
            "- deny    198.51.100.0/24 → vendor-jump-host (10.99.0.10)  tcp/443  by the default rule (was allow by rule vendor-remote-support, which expired after 2026-12-15)"
        ]
    );
    // A rule removed by hand before its expiry is not "expired".
    let d = diff_on("2026-12-01", "2026-12-01", |t| {
        cut_rule(&t, "allow \"vendor-remote-support\"").0
    });
    assert!(d.changes.iter().all(|c| c.old.expired_on.is_none()));
    assert!(!d.changes.is_empty());
}

#[test]
fn a_residual_set_is_named_by_the_objects_that_make_it() {
    // The advisory block still decides 202.114.4.0/24, so what the
    // resolvers lose is the internet except the advisory's networks.
    let d = diff_after(|t| cut_rule(&t, "allow \"resolvers-to-internet\"").0);
    let dsts: Vec<(Option<String>, usize)> = d
        .changes
        .iter()
        .map(|c| (c.dst.name.clone(), c.dst.cidrs.len()))
        .collect();
    assert!(!dsts.is_empty());
    let v4 = d.changes.iter().find(|c| c.family == "ipv4").unwrap();
    assert_eq!(
        v4.dst.name.as_deref(),
        Some("internet except contec-cms8000"),
        "{dsts:?}"
    );
    assert!(
        v4.line().contains("→ internet except contec-cms8000 ("),
        "{}",
        v4.line()
    );
    // The advisory is IPv4 only: IPv6 loses the whole internet zone.
    let v6 = d.changes.iter().find(|c| c.family == "ipv6").unwrap();
    assert_eq!(v6.dst.name.as_deref(), Some("internet"));
}

#[test]
fn a_set_that_is_not_exactly_an_object_minus_others_stays_cidrs() {
    // One more address carved out of the internet (an allow for the
    // resolvers to one host, then the deny takes the rest) is no longer
    // `internet except contec-cms8000`.
    let d = diff_after(|t| {
        let (t, _) = cut_rule(&t, "allow \"resolvers-to-internet\"");
        t.replacen(
            RULES_START,
            "rules {\n    allow \"resolvers-to-one\" {\n        description \"one upstream resolver\"\n        from \"dns-servers\"\n        to \"9.9.9.9\"\n        service \"dns\"\n    }\n",
            1,
        )
    });
    let v4: Vec<&wardwall::diff::traffic::Change> =
        d.changes.iter().filter(|c| c.family == "ipv4").collect();
    assert!(!v4.is_empty());
    for c in v4 {
        assert_eq!(c.dst.name, None, "{}", c.line());
    }
}

#[test]
fn the_zone_matrix_lists_only_the_pairs_that_change() {
    let d = diff_after(|t| {
        let t = replace(RULES_START, CONTEC_INTERNET)(t);
        replace(
            "        service \"dicom\" \"dicom-tls\"\n",
            "        service \"dicom-tls\"\n",
        )(t)
    });
    let rows: Vec<String> = d.matrix.iter().map(|z| z.line()).collect();
    assert_eq!(
        rows,
        [
            "monitor-quarantine → internet  gains tcp/443 (IPv4)",
            "imaging → clinical-apps  loses tcp/104, tcp/11112 (IPv4)",
        ],
        "{rows:#?}"
    );
    let md = wardwall::diff::to_markdown(&[], Some(&d), None, &Default::default());
    assert!(
        md.contains("| monitor-quarantine | internet | tcp/443 (IPv4) | — |\n"),
        "{md}"
    );
    // No change, no matrix.
    let same = diff_after(replace(
        "        description \"Staff web browsing\"\n",
        "        description \"Staff web browsing (reworded)\"\n",
    ));
    assert!(same.matrix.is_empty());
}
