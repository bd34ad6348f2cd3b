#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Table tests ported from containerd `platforms` v1.6.6
//! (platforms_test.go, compare_test.go).

use image::platform::host_os;
use image::{Platform, PlatformMatcher};

fn p(s: &str) -> Platform {
    Platform::parse(s).unwrap()
}

/// (input, expected os/arch/variant, also-matching arch/variant pairs, formatted)
type SelectorCase<'a> = (
    &'a str,
    (&'a str, &'a str, &'a str),
    Vec<(&'a str, &'a str)>,
    String,
);

#[test]
fn parse_selector_table() {
    let host = Platform::new(host_os(), "amd64", "");
    let os = host_os();
    let cases: Vec<SelectorCase> = vec![
        (
            "linux/arm64",
            ("linux", "arm64", ""),
            vec![("aarch64", ""), ("aarch64", "v8"), ("arm64", "v8")],
            "linux/arm64".into(),
        ),
        (
            "linux/arm64/v8",
            ("linux", "arm64", "v8"),
            vec![("aarch64", ""), ("aarch64", "v8"), ("arm64", "")],
            "linux/arm64/v8".into(),
        ),
        (
            "linux/arm",
            ("linux", "arm", ""),
            vec![("arm", "v7"), ("armhf", ""), ("arm", "7")],
            "linux/arm".into(),
        ),
        (
            "linux/arm/v6",
            ("linux", "arm", "v6"),
            vec![("armel", "")],
            "linux/arm/v6".into(),
        ),
        (
            "linux/arm/v7",
            ("linux", "arm", "v7"),
            vec![("arm", ""), ("armhf", "")],
            "linux/arm/v7".into(),
        ),
        ("arm", (os, "arm", ""), vec![], format!("{os}/arm")),
        ("armel", (os, "arm", "v6"), vec![], format!("{os}/arm/v6")),
        ("armhf", (os, "arm", ""), vec![], format!("{os}/arm")),
        ("Aarch64", (os, "arm64", ""), vec![], format!("{os}/arm64")),
        ("x86_64", (os, "amd64", ""), vec![], format!("{os}/amd64")),
        (
            "Linux/x86_64",
            ("linux", "amd64", ""),
            vec![],
            "linux/amd64".into(),
        ),
        ("i386", (os, "386", ""), vec![], format!("{os}/386")),
        (
            "linux",
            ("linux", "amd64", ""),
            vec![],
            "linux/amd64".into(),
        ),
        ("s390x", (os, "s390x", ""), vec![], format!("{os}/s390x")),
        (
            "linux/s390x",
            ("linux", "s390x", ""),
            vec![],
            "linux/s390x".into(),
        ),
        (
            "macOS",
            ("darwin", "amd64", ""),
            vec![],
            "darwin/amd64".into(),
        ),
    ];
    for (input, (eos, earch, evar), matches, formatted) in cases {
        let got = Platform::parse_with_host(input, &host).unwrap();
        assert_eq!(got, Platform::new(eos, earch, evar), "{input}");
        let m = PlatformMatcher::only_strict(&got);
        assert!(m.matches(&Platform::new(eos, earch, evar)), "{input}");
        for (arch, variant) in matches {
            assert!(
                m.matches(&Platform::new(eos, arch, variant)),
                "{input} vs {arch}/{variant}"
            );
        }
        assert_eq!(got.to_string(), formatted, "{input}");
        let reparsed = Platform::parse_with_host(&formatted, &host).unwrap();
        assert_eq!(reparsed.to_string(), formatted, "{input}");
    }
}

#[test]
fn parse_selector_invalid() {
    for input in [
        "",
        "/linux/arm",
        "linux/arm/",
        "linux /arm",
        "linux/&arm",
        "linux/arm/foo/bar",
        "linux/*",
    ] {
        assert!(Platform::parse(input).is_err(), "{input:?}");
    }
    assert_eq!(
        Platform::parse("linux/arm/foo/bar")
            .unwrap_err()
            .to_string(),
        "\"linux/arm/foo/bar\": cannot parse platform specifier: invalid argument"
    );
    assert_eq!(
        Platform::parse("nonsense").unwrap_err().to_string(),
        "\"nonsense\": unknown operating system or architecture: invalid argument"
    );
}

fn check_table(strict: bool, table: &[(&str, &[&str], &[&str])]) {
    for (platform, yes, no) in table {
        let target = p(platform);
        let m = if strict {
            PlatformMatcher::only_strict(&target)
        } else {
            PlatformMatcher::only(&target)
        };
        for c in *yes {
            assert!(
                m.matches(&p(c)),
                "{platform} (strict {strict}) should match {c}"
            );
        }
        for c in *no {
            assert!(
                !m.matches(&p(c)),
                "{platform} (strict {strict}) should not match {c}"
            );
        }
    }
}

#[test]
fn only_table() {
    check_table(
        false,
        &[
            (
                "linux/amd64",
                &["linux/amd64", "linux/386"],
                &[
                    "linux/amd64/v2",
                    "linux/arm/v7",
                    "linux/arm64",
                    "windows/amd64",
                    "windows/arm",
                ],
            ),
            (
                "linux/amd64/v2",
                &[
                    "linux/amd64",
                    "linux/amd64/v1",
                    "linux/amd64/v2",
                    "linux/386",
                ],
                &[
                    "linux/amd64/v3",
                    "linux/amd64/v4",
                    "linux/arm/v7",
                    "linux/arm64",
                    "windows/amd64",
                    "windows/arm",
                ],
            ),
            (
                "linux/386",
                &["linux/386"],
                &[
                    "linux/amd64",
                    "linux/arm/v7",
                    "linux/arm64",
                    "windows/amd64",
                    "windows/arm",
                ],
            ),
            (
                "windows/amd64",
                &["windows/amd64"],
                &["linux/amd64", "linux/arm/v7", "linux/arm64", "windows/arm"],
            ),
            (
                "linux/arm/v8",
                &[
                    "linux/arm",
                    "linux/arm/v5",
                    "linux/arm/v6",
                    "linux/arm/v7",
                    "linux/arm/v8",
                ],
                &[
                    "linux/amd64",
                    "linux/arm/v4",
                    "linux/arm64",
                    "windows/amd64",
                    "windows/arm",
                ],
            ),
            (
                "linux/arm/v7",
                &["linux/arm", "linux/arm/v5", "linux/arm/v6", "linux/arm/v7"],
                &[
                    "linux/amd64",
                    "linux/arm/v4",
                    "linux/arm/v8",
                    "linux/arm64",
                    "windows/amd64",
                    "windows/arm",
                ],
            ),
            (
                "linux/arm/v6",
                &["linux/arm/v5", "linux/arm/v6"],
                &[
                    "linux/amd64",
                    "linux/arm",
                    "linux/arm/v4",
                    "linux/arm/v7",
                    "linux/arm/v8",
                    "linux/arm64",
                    "windows/amd64",
                    "windows/arm",
                ],
            ),
            (
                "linux/arm/v5",
                &["linux/arm/v5"],
                &[
                    "linux/amd64",
                    "linux/arm",
                    "linux/arm/v4",
                    "linux/arm/v6",
                    "linux/arm/v7",
                    "linux/arm/v8",
                    "linux/arm64",
                    "windows/amd64",
                    "windows/arm",
                ],
            ),
            (
                "linux/arm/v4",
                &["linux/arm/v4"],
                &[
                    "linux/amd64",
                    "linux/arm",
                    "linux/arm/v5",
                    "linux/arm/v6",
                    "linux/arm/v7",
                    "linux/arm/v8",
                    "linux/arm64",
                    "windows/amd64",
                    "windows/arm",
                ],
            ),
            (
                "linux/arm64",
                &[
                    "linux/arm",
                    "linux/arm/v5",
                    "linux/arm/v6",
                    "linux/arm/v7",
                    "linux/arm/v8",
                    "linux/arm64",
                    "linux/arm64/v8",
                ],
                &[
                    "linux/amd64",
                    "linux/arm/v4",
                    "linux/arm/v9",
                    "linux/arm64/v9",
                    "windows/amd64",
                    "windows/arm",
                ],
            ),
        ],
    );
}

#[test]
fn only_strict_table() {
    check_table(
        true,
        &[
            (
                "linux/amd64",
                &["linux/amd64"],
                &[
                    "linux/386",
                    "linux/arm/v7",
                    "linux/arm64",
                    "windows/amd64",
                    "windows/arm",
                ],
            ),
            (
                "linux/386",
                &["linux/386"],
                &[
                    "linux/amd64",
                    "linux/arm/v7",
                    "linux/arm64",
                    "windows/amd64",
                    "windows/arm",
                ],
            ),
            (
                "windows/amd64",
                &["windows/amd64"],
                &["linux/amd64", "linux/arm/v7", "linux/arm64", "windows/arm"],
            ),
            (
                "linux/arm/v8",
                &["linux/arm/v8"],
                &[
                    "linux/arm",
                    "linux/arm/v5",
                    "linux/arm/v6",
                    "linux/arm/v7",
                    "linux/amd64",
                    "linux/arm/v4",
                    "linux/arm64",
                    "windows/amd64",
                    "windows/arm",
                ],
            ),
            (
                "linux/arm/v7",
                &["linux/arm", "linux/arm/v7"],
                &[
                    "linux/arm/v5",
                    "linux/arm/v6",
                    "linux/amd64",
                    "linux/arm/v4",
                    "linux/arm/v8",
                    "linux/arm64",
                    "windows/amd64",
                    "windows/arm",
                ],
            ),
            (
                "linux/arm/v6",
                &["linux/arm/v6"],
                &[
                    "linux/arm/v5",
                    "linux/amd64",
                    "linux/arm",
                    "linux/arm/v4",
                    "linux/arm/v7",
                    "linux/arm/v8",
                    "linux/arm64",
                    "windows/amd64",
                    "windows/arm",
                ],
            ),
            (
                "linux/arm/v5",
                &["linux/arm/v5"],
                &[
                    "linux/amd64",
                    "linux/arm",
                    "linux/arm/v4",
                    "linux/arm/v6",
                    "linux/arm/v7",
                    "linux/arm/v8",
                    "linux/arm64",
                    "windows/amd64",
                    "windows/arm",
                ],
            ),
            (
                "linux/arm/v4",
                &["linux/arm/v4"],
                &[
                    "linux/amd64",
                    "linux/arm",
                    "linux/arm/v5",
                    "linux/arm/v6",
                    "linux/arm/v7",
                    "linux/arm/v8",
                    "linux/arm64",
                    "windows/amd64",
                    "windows/arm",
                ],
            ),
            (
                "linux/arm64",
                &["linux/arm64", "linux/arm64/v8"],
                &[
                    "linux/arm",
                    "linux/arm/v5",
                    "linux/arm/v6",
                    "linux/arm/v7",
                    "linux/arm/v8",
                    "linux/amd64",
                    "linux/arm/v4",
                    "linux/arm/v9",
                    "linux/arm64/v9",
                    "windows/amd64",
                    "windows/arm",
                ],
            ),
        ],
    );
}
