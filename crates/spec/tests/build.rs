#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use oci_spec::runtime::{
    Capability, LinuxDeviceType, LinuxNamespaceType, Mount as OciMount, PosixRlimitType, Spec,
};
use spec::*;

fn base() -> ContainerSpec {
    ContainerSpec {
        rootfs: PathBuf::from("/var/lib/balena/rootfs"),
        args: vec!["/bin/sh".into(), "-c".into(), "true".into()],
        env: vec!["PATH=/usr/bin:/bin".into()],
        hostname: "abc123".into(),
        cgroups_path: "/balena/abc123".into(),
        ..Default::default()
    }
}

fn mount<'a>(s: &'a Spec, dest: &str) -> Option<&'a OciMount> {
    s.mounts()
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.destination() == &PathBuf::from(dest))
}

fn opts(s: &Spec, dest: &str) -> Vec<String> {
    mount(s, dest).unwrap().options().clone().unwrap()
}

fn caps_of(s: &Spec) -> (usize, Option<usize>, Option<usize>, bool) {
    let c = s
        .process()
        .as_ref()
        .unwrap()
        .capabilities()
        .as_ref()
        .unwrap();
    (
        c.bounding().as_ref().unwrap().len(),
        c.effective().as_ref().map(|x| x.len()),
        c.permitted().as_ref().map(|x| x.len()),
        c.inheritable().is_none() && c.ambient().is_none(),
    )
}

#[test]
fn default_spec_matches_docker() {
    let s = build(&base()).unwrap();
    assert_eq!(s.version(), "1.0.2-dev");
    assert_eq!(caps_of(&s), (14, Some(14), Some(14), true));
    let dests: Vec<String> = s
        .mounts()
        .as_ref()
        .unwrap()
        .iter()
        .map(|m| m.destination().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        dests,
        [
            "/proc",
            "/dev",
            "/dev/pts",
            "/sys",
            "/sys/fs/cgroup",
            "/dev/mqueue",
            "/dev/shm"
        ]
    );
    assert_eq!(
        opts(&s, "/dev/shm"),
        ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]
    );
    assert_eq!(
        opts(&s, "/dev/pts"),
        [
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5"
        ]
    );
    assert!(opts(&s, "/sys").contains(&"ro".to_string()));
    let linux = s.linux().as_ref().unwrap();
    assert_eq!(linux.masked_paths().as_ref().unwrap().len(), 10);
    assert_eq!(
        linux.readonly_paths().as_ref().unwrap(),
        &DEFAULT_READONLY_PATHS
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    );
    let ns: Vec<LinuxNamespaceType> = linux
        .namespaces()
        .as_ref()
        .unwrap()
        .iter()
        .map(|n| n.typ())
        .collect();
    assert_eq!(
        ns,
        [
            LinuxNamespaceType::Mount,
            LinuxNamespaceType::Network,
            LinuxNamespaceType::Uts,
            LinuxNamespaceType::Pid,
            LinuxNamespaceType::Ipc,
            LinuxNamespaceType::Cgroup
        ]
    );
    let res = linux.resources().as_ref().unwrap();
    let devs = res.devices().as_ref().unwrap();
    assert_eq!(devs.len(), 8);
    assert!(!devs[0].allow());
    assert_eq!(
        linux.cgroups_path().as_ref().unwrap(),
        &PathBuf::from("/balena/abc123")
    );
    let sc = linux.seccomp().as_ref().unwrap();
    assert_eq!(
        sc.default_action(),
        oci_spec::runtime::LinuxSeccompAction::ScmpActErrno
    );
    let p = s.process().as_ref().unwrap();
    assert_eq!(p.cwd(), &PathBuf::from("/"));
    assert!(p.apparmor_profile().is_none() && p.selinux_label().is_none());
    assert_eq!(p.no_new_privileges(), None);
    assert_eq!(p.oom_score_adj(), Some(0));
    assert_eq!(s.hostname().as_deref(), Some("abc123"));
    assert_eq!(s.root().as_ref().unwrap().readonly(), Some(false));
    assert!(linux.devices().as_ref().unwrap().is_empty());
}

#[test]
fn privileged_gets_everything() {
    let s = build(&ContainerSpec {
        privileged: true,
        ..base()
    })
    .unwrap();
    // Every capability the kernel has and the engine (this test) holds.
    let n = spec::grantable_caps().len();
    assert!(n <= all_caps().len());
    assert_eq!(caps_of(&s), (n, Some(n), Some(n), true));
    let linux = s.linux().as_ref().unwrap();
    assert!(linux.masked_paths().as_ref().unwrap().is_empty());
    assert!(linux.readonly_paths().as_ref().unwrap().is_empty());
    assert!(linux.seccomp().is_none());
    assert!(!opts(&s, "/sys").contains(&"ro".to_string()));
    assert!(!opts(&s, "/sys/fs/cgroup").contains(&"ro".to_string()));
    let perms = linux
        .resources()
        .as_ref()
        .unwrap()
        .devices()
        .as_ref()
        .unwrap();
    assert_eq!(perms.len(), 1);
    assert!(perms[0].allow() && perms[0].typ().is_none());
    assert!(linux
        .devices()
        .as_ref()
        .unwrap()
        .iter()
        .any(|d| d.path() == &PathBuf::from("/dev/null")));
}

#[test]
fn cap_add_drop_and_unknown() {
    let s = build(&ContainerSpec {
        cap_add: vec!["net_admin".into()],
        cap_drop: vec!["CAP_MKNOD".into(), "net_raw".into()],
        ..base()
    })
    .unwrap();
    let b = s
        .process()
        .as_ref()
        .unwrap()
        .capabilities()
        .as_ref()
        .unwrap()
        .bounding()
        .clone()
        .unwrap();
    assert!(b.contains(&Capability::NetAdmin));
    assert!(!b.contains(&Capability::Mknod) && !b.contains(&Capability::NetRaw));
    assert_eq!(b.len(), 13);
    let e = build(&ContainerSpec {
        cap_add: vec!["CAP_BOGUS".into()],
        ..base()
    })
    .unwrap_err();
    assert_eq!(e.to_string(), "unknown capability: \"CAP_BOGUS\"");
}

#[test]
fn non_root_gets_only_bounding_caps() {
    let s = build(&ContainerSpec {
        user: User {
            uid: 1000,
            gid: 1000,
            additional_gids: vec![10],
        },
        ..base()
    })
    .unwrap();
    assert_eq!(caps_of(&s), (14, None, None, true));
    let u = s.process().as_ref().unwrap().user();
    assert_eq!(
        (u.uid(), u.gid(), u.additional_gids().clone()),
        (1000, 1000, Some(vec![10]))
    );
}

#[test]
fn readonly_rootfs_marks_non_special_mounts_ro() {
    let c = ContainerSpec {
        readonly_rootfs: true,
        mounts: vec![Mount {
            kind: MountKind::Bind,
            source: "/data".into(),
            destination: "/data".into(),
            propagation: Some("rprivate".into()),
            ..Default::default()
        }],
        etc_files: vec![("/etc/hosts".into(), "/run/c/hosts".into())],
        ..base()
    };
    let s = build(&c).unwrap();
    assert_eq!(s.root().as_ref().unwrap().readonly(), Some(true));
    assert!(!opts(&s, "/proc").contains(&"ro".to_string()));
    assert!(!opts(&s, "/dev/shm").contains(&"ro".to_string()));
    assert_eq!(opts(&s, "/data"), ["rbind", "rprivate"]);
    assert_eq!(opts(&s, "/etc/hosts"), ["rbind", "ro", "rprivate"]);
}

#[test]
fn devices_and_cgroup_rules() {
    let c = ContainerSpec {
        devices: vec![
            Device {
                path_on_host: "/dev/null".into(),
                path_in_container: "/dev/xnull".into(),
                cgroup_permissions: "rw".into(),
            },
            Device {
                path_on_host: "/dev/zero".into(),
                path_in_container: "/dev/zero".into(),
                cgroup_permissions: "rwm".into(),
            },
        ],
        device_cgroup_rules: vec!["c 189:* rmw".into(), "a *:* r".into()],
        ..base()
    };
    let s = build(&c).unwrap();
    let linux = s.linux().as_ref().unwrap();
    let devs = linux.devices().as_ref().unwrap();
    assert_eq!(devs.len(), 2);
    assert_eq!(
        (
            devs[0].path().to_str().unwrap(),
            devs[0].typ(),
            devs[0].major(),
            devs[0].minor()
        ),
        ("/dev/xnull", LinuxDeviceType::C, 1, 3)
    );
    assert_eq!((devs[1].major(), devs[1].minor()), (1, 5));
    let perms = linux
        .resources()
        .as_ref()
        .unwrap()
        .devices()
        .as_ref()
        .unwrap();
    assert_eq!(perms.len(), 12);
    assert_eq!(perms[8].access().as_deref(), Some("rw"));
    assert_eq!(
        (perms[10].major(), perms[10].minor()),
        (Some(189), Some(-1))
    );
    assert_eq!(perms[11].typ(), Some(LinuxDeviceType::A));
    let bad = ContainerSpec {
        device_cgroup_rules: vec!["z 1:1 r".into()],
        ..base()
    };
    assert_eq!(
        build(&bad).unwrap_err().to_string(),
        "invalid device cgroup rule format: 'z 1:1 r'"
    );
}

#[test]
fn tmpfs_overrides_dev_shm_and_shm_size() {
    let s = build(&ContainerSpec {
        shm_size: 1 << 20,
        ..base()
    })
    .unwrap();
    assert!(opts(&s, "/dev/shm").contains(&"size=1048576".to_string()));
    let c = ContainerSpec {
        mounts: vec![Mount {
            kind: MountKind::Tmpfs,
            destination: "/dev/shm".into(),
            tmpfs_options: vec!["size=8m,exec".into()],
            ..Default::default()
        }],
        ..base()
    };
    let s = build(&c).unwrap();
    let shm: Vec<&OciMount> = s
        .mounts()
        .as_ref()
        .unwrap()
        .iter()
        .filter(|m| m.destination() == &PathBuf::from("/dev/shm"))
        .collect();
    assert_eq!(shm.len(), 1);
    assert_eq!(shm[0].source().as_ref().unwrap(), &PathBuf::from("tmpfs"));
    assert_eq!(
        opts(&s, "/dev/shm"),
        ["nosuid", "nodev", "rprivate", "size=8m", "exec"]
    );
}

#[test]
fn user_mounts_sorted_by_depth_after_defaults() {
    let bind = |d: &str| Mount {
        kind: MountKind::Bind,
        source: "/src".into(),
        destination: d.into(),
        readonly: true,
        propagation: Some("rslave".into()),
        ..Default::default()
    };
    let s = build(&ContainerSpec {
        mounts: vec![bind("/a/b/c"), bind("/x"), bind("/a/b")],
        ..base()
    })
    .unwrap();
    let dests: Vec<String> = s
        .mounts()
        .as_ref()
        .unwrap()
        .iter()
        .skip(7)
        .map(|m| m.destination().to_string_lossy().into_owned())
        .collect();
    assert_eq!(dests, ["/x", "/a/b", "/a/b/c"]);
    assert_eq!(opts(&s, "/x"), ["rbind", "ro", "rslave"]);
    assert_eq!(
        s.linux().as_ref().unwrap().rootfs_propagation().as_deref(),
        Some("slave")
    );
}

#[test]
fn ulimits_become_rlimits() {
    let c = ContainerSpec {
        ulimits: vec![
            Ulimit {
                name: "nofile".into(),
                soft: 1024,
                hard: 4096,
            },
            Ulimit {
                name: "core".into(),
                soft: -1,
                hard: -1,
            },
        ],
        ..base()
    };
    let s = build(&c).unwrap();
    let rl = s.process().as_ref().unwrap().rlimits().clone().unwrap();
    assert_eq!(
        (rl[0].typ(), rl[0].soft(), rl[0].hard()),
        (PosixRlimitType::RlimitNofile, 1024, 4096)
    );
    assert_eq!(
        (rl[1].typ(), rl[1].soft()),
        (PosixRlimitType::RlimitCore, u64::MAX)
    );
    let bad = ContainerSpec {
        ulimits: vec![Ulimit {
            name: "bogus".into(),
            soft: 1,
            hard: 1,
        }],
        ..base()
    };
    assert_eq!(
        build(&bad).unwrap_err().to_string(),
        "invalid ulimit type: bogus"
    );
}

#[test]
fn resources_map_like_docker() {
    let c = ContainerSpec {
        resources: Resources {
            memory: 64 << 20,
            memory_reservation: 32 << 20,
            cpu_shares: 512,
            nano_cpus: 1_500_000_000,
            cpuset_cpus: "0".into(),
            pids_limit: Some(0),
            blkio_weight: 300,
            oom_kill_disable: Some(true),
            ..Default::default()
        },
        ..base()
    };
    let s = build(&c).unwrap();
    let r = s.linux().as_ref().unwrap().resources().clone().unwrap();
    let m = r.memory().unwrap();
    assert_eq!(
        (
            m.limit(),
            m.reservation(),
            m.swap(),
            m.swappiness(),
            m.disable_oom_killer()
        ),
        (
            Some(64 << 20),
            Some(32 << 20),
            Some(128 << 20),
            None,
            Some(true)
        )
    );
    let cpu = r.cpu().clone().unwrap();
    assert_eq!(
        (
            cpu.shares(),
            cpu.period(),
            cpu.quota(),
            cpu.cpus().as_deref()
        ),
        (Some(512), Some(100_000), Some(150_000), Some("0"))
    );
    assert_eq!(r.pids().unwrap().limit(), -1);
    assert_eq!(r.block_io().as_ref().unwrap().weight(), Some(300));
}

#[test]
fn namespaces_host_and_path() {
    let c = ContainerSpec {
        uts: NsMode::Host,
        net: NsMode::Path("/proc/42/ns/net".into()),
        pid: NsMode::Host,
        cgroupns: default_cgroupns(false),
        init: Some("/usr/bin/tini".into()),
        domainname: "example.com".into(),
        ..base()
    };
    let s = build(&c).unwrap();
    assert!(s.hostname().is_none());
    let linux = s.linux().as_ref().unwrap();
    let ns = linux.namespaces().as_ref().unwrap();
    assert_eq!(
        ns.iter().map(|n| n.typ()).collect::<Vec<_>>(),
        [
            LinuxNamespaceType::Mount,
            LinuxNamespaceType::Network,
            LinuxNamespaceType::Ipc
        ]
    );
    assert_eq!(
        ns[1].path().as_deref(),
        Some(std::path::Path::new("/proc/42/ns/net"))
    );
    // --init is ignored outside a private pid namespace, as in Docker.
    assert_eq!(
        s.process().as_ref().unwrap().args().as_ref().unwrap()[0],
        "/bin/sh"
    );
    assert!(linux
        .sysctl()
        .as_ref()
        .is_none_or(|m| !m.contains_key("kernel.domainname")));
}

#[test]
fn init_and_sysctls() {
    let c = ContainerSpec {
        init: Some("/usr/bin/tini".into()),
        domainname: "example.com".into(),
        sysctls: BTreeMap::from([("net.ipv4.ip_forward".to_string(), "1".to_string())]),
        no_new_privileges: true,
        ..base()
    };
    let s = build(&c).unwrap();
    assert_eq!(
        s.process().as_ref().unwrap().args().as_ref().unwrap()[..3],
        ["/sbin/docker-init", "--", "/bin/sh"]
    );
    let m = mount(&s, "/sbin/docker-init").unwrap();
    assert_eq!(
        m.source().as_ref().unwrap(),
        &PathBuf::from("/usr/bin/tini")
    );
    assert_eq!(opts(&s, "/sbin/docker-init"), ["bind", "ro"]);
    let sysctl = s.linux().as_ref().unwrap().sysctl().clone().unwrap();
    assert_eq!(sysctl["kernel.domainname"], "example.com");
    assert_eq!(sysctl["net.ipv4.ip_forward"], "1");
    assert_eq!(
        s.process().as_ref().unwrap().no_new_privileges(),
        Some(true)
    );
}

#[test]
fn unconfined_and_custom_seccomp() {
    let s = build(&ContainerSpec {
        seccomp: Seccomp::Unconfined,
        ..base()
    })
    .unwrap();
    assert!(s.linux().as_ref().unwrap().seccomp().is_none());
    let prof = br#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#.to_vec();
    let s = build(&ContainerSpec {
        seccomp: Seccomp::Profile(prof),
        ..base()
    })
    .unwrap();
    let sc = s.linux().as_ref().unwrap().seccomp().clone().unwrap();
    assert_eq!(sc.syscalls().as_ref().unwrap().len(), 1);
}

#[test]
fn spec_json_round_trips() {
    let c = ContainerSpec {
        privileged: false,
        cap_add: vec!["SYS_ADMIN".into()],
        ulimits: vec![Ulimit {
            name: "nproc".into(),
            soft: 10,
            hard: 20,
        }],
        resources: Resources {
            memory: 64 << 20,
            pids_limit: Some(100),
            ..Default::default()
        },
        annotations: BTreeMap::from([("io.balena.x".to_string(), "y".to_string())]),
        ..base()
    };
    let s = build(&c).unwrap();
    let json = serde_json::to_string(&s).unwrap();
    let back: Spec = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
    // and the privileged variant (host devices) too
    let s = build(&ContainerSpec {
        privileged: true,
        ..base()
    })
    .unwrap();
    let back: Spec = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(back, s);
}
