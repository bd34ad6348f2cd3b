//! `POST /commit`: a container's read-write layer becomes a new image on
//! top of the container's image (Docker's `CreateImageFromContainer` and
//! `CommitImage`).
//!
//! The layer tar is the overlay2 driver's `Diff` of the container's `diff`
//! directory (AUFS `.wh.` whiteouts, `.wh..wh..opq` for opaque
//! directories), streamed through a bounded pipe into the store's layer
//! writer, as a pull's layers are. An unchanged container gives Docker's
//! empty layer, which is not added to the image's root file system (its
//! history entry says `empty_layer`).

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::containers::record::{Record, Status};
use crate::{Engine, EngineError};

/// Docker's empty layer: the diff id of a tar holding only its end.
const EMPTY_LAYER: &str = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

/// What `POST /commit` asks for.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    pub container: String,
    pub repo: String,
    pub tag: String,
    pub comment: String,
    pub author: String,
    pub pause: bool,
    /// Dockerfile instructions (`--change`).
    pub changes: Vec<String>,
    /// The body: a container config used instead of the container's.
    pub config: Option<Value>,
}

fn bad(msg: impl Into<String>) -> EngineError {
    EngineError::InvalidArgument(msg.into())
}

fn obj(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = json!({});
    }
    match v {
        Value::Object(m) => m,
        _ => unreachable!("made an object above"),
    }
}

fn empty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        _ => false,
    }
}

/// Docker's `merge(userConf, imageConf)` of commit: what the new config
/// leaves empty comes from the container's.
pub fn merge(user: &mut Map<String, Value>, ctr: &Map<String, Value>) {
    for k in ["User", "WorkingDir", "StopSignal"] {
        if empty(user.get(k)) {
            if let Some(v) = ctr.get(k) {
                user.insert(k.into(), v.clone());
            }
        }
    }
    for k in ["ExposedPorts", "Volumes"] {
        if let Some(Value::Object(c)) = ctr.get(k) {
            let u = obj(user.entry(k).or_insert(Value::Null));
            for (p, v) in c {
                u.entry(p.clone()).or_insert(v.clone());
            }
        }
    }
    if empty(user.get("Env")) {
        if let Some(v) = ctr.get("Env") {
            user.insert("Env".into(), v.clone());
        }
    } else if let (Some(Value::Array(c)), Some(Value::Array(u))) =
        (ctr.get("Env").cloned(), user.get_mut("Env"))
    {
        let key = |e: &Value| {
            e.as_str()
                .map(|s| s.split('=').next().unwrap_or("").to_string())
        };
        for e in c {
            if !u.iter().any(|x| key(x) == key(&e)) {
                u.push(e);
            }
        }
    }
    let labels = obj(user.entry("Labels").or_insert(Value::Null));
    if let Some(Value::Object(c)) = ctr.get("Labels") {
        for (k, v) in c {
            labels.entry(k.clone()).or_insert(v.clone());
        }
    }
    if empty(user.get("Entrypoint")) {
        if empty(user.get("Cmd")) {
            if let Some(v) = ctr.get("Cmd") {
                user.insert("Cmd".into(), v.clone());
            }
        }
        if matches!(user.get("Entrypoint"), None | Some(Value::Null)) {
            if let Some(v) = ctr.get("Entrypoint") {
                user.insert("Entrypoint".into(), v.clone());
            }
        }
    }
    if empty(user.get("Healthcheck")) {
        if let Some(v) = ctr.get("Healthcheck").filter(|v| !v.is_null()) {
            user.insert("Healthcheck".into(), v.clone());
        }
    }
}

/// The new image's config (Docker's `NewChildImage`).
fn child_config(
    parent: &Value,
    rec: &Record,
    o: &CommitOptions,
    config: Value,
    container_config: Value,
    diff: &str,
) -> Value {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let empty_layer = diff == EMPTY_LAYER;
    let mut diff_ids = parent["rootfs"]["diff_ids"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !empty_layer {
        diff_ids.push(json!(diff));
    }
    let mut history = parent["history"].as_array().cloned().unwrap_or_default();
    let mut h = json!({
        "created": now,
        "created_by": container_config["Cmd"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "))
            .unwrap_or_default(),
    });
    if !o.author.is_empty() {
        h["author"] = json!(o.author);
    }
    if !o.comment.is_empty() {
        h["comment"] = json!(o.comment);
    }
    if empty_layer {
        h["empty_layer"] = json!(true);
    }
    if h["created_by"] == "" {
        if let Some(m) = h.as_object_mut() {
            m.remove("created_by");
        }
    }
    history.push(h);
    let mut c = json!({
        "architecture": parent.get("architecture").cloned().unwrap_or(json!(crate::pull::host_platform().architecture)),
        "config": config,
        "container": rec.id,
        "container_config": container_config,
        "created": now,
        "docker_version": api::version::COMPAT_VERSION,
        "history": history,
        "os": parent.get("os").cloned().unwrap_or(json!("linux")),
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    if !o.author.is_empty() {
        c["author"] = json!(o.author);
    }
    for k in ["variant", "os.version", "os.features"] {
        if let Some(v) = parent.get(k).filter(|v| !empty(Some(v))) {
            c[k] = v.clone();
        }
    }
    c
}

impl Engine {
    /// `POST /commit`. Returns the new image's id and the reference it was
    /// tagged with (empty when none).
    pub async fn commit(self: &Arc<Self>, o: CommitOptions) -> Result<String, EngineError> {
        let c = self.containers().get(&o.container)?;
        let rec = c.record();
        match rec.state.status {
            Status::Dead => {
                return Err(EngineError::Conflict(format!(
                    "You cannot commit container {} which is Dead",
                    rec.id
                )))
            }
            Status::Removing => {
                return Err(EngineError::Conflict(format!(
                    "You cannot commit container {} which is being removed",
                    rec.id
                )))
            }
            _ => {}
        }
        // Check the changes and the target before pausing anything.
        crate::changes::apply(&mut Map::new(), &o.changes)?;
        if !o.repo.is_empty() {
            crate::images::parse_tag_target(&o.repo, &o.tag)?;
        }
        let paused = o.pause
            && rec.state.status == Status::Running
            && self.containers().pause(&rec.id, true).await.is_ok();
        let this = self.clone();
        let rec2 = rec.clone();
        let o2 = o.clone();
        let r = tokio::task::spawn_blocking(move || this.commit_blocking(&rec2, &o2))
            .await
            .map_err(|e| EngineError::Corrupt(format!("task failed: {e}")));
        if paused {
            if let Err(e) = self.containers().pause(&rec.id, false).await {
                tracing::warn!(container = %rec.id, error = %e, "unpause after commit");
            }
        }
        let (id, image_ref) = r??;
        // The image's `tag` event comes from `Images::tag`.
        self.containers().event(
            &rec,
            "commit",
            &[
                ("comment", o.comment.clone()),
                ("imageID", id.clone()),
                ("imageRef", image_ref),
            ],
        );
        Ok(id)
    }

    fn commit_blocking(
        &self,
        rec: &Record,
        o: &CommitOptions,
    ) -> Result<(String, String), EngineError> {
        let images = self.images();
        let store = images.store().clone();
        let parent_id = images.resolve(&rec.image)?;
        let parent = images.load(&parent_id)?;
        let parent_raw: Value = serde_json::from_slice(parent.config.raw())
            .map_err(|e| EngineError::Corrupt(format!("image {parent_id}: {e}")))?;
        let container_config =
            serde_json::to_value(&rec.config).map_err(|e| EngineError::Corrupt(e.to_string()))?;
        let mut config = match &o.config {
            Some(v) if !v.is_null() => v.clone(),
            _ => container_config.clone(),
        };
        if !config.is_object() {
            return Err(bad("invalid config: not an object"));
        }
        crate::changes::apply(obj(&mut config), &o.changes)?;
        if let Value::Object(cc) = &container_config {
            merge(obj(&mut config), cc);
        }

        // The layer: the diff directory's tar, through a pipe into the
        // layer writer.
        let data = store.rw_driver_data(&rec.id)?;
        let upper = std::path::PathBuf::from(data.get("UpperDir").cloned().unwrap_or_default());
        let (w, r) = crate::pipe::pipe(8);
        let up = upper.clone();
        let producer = std::thread::spawn(move || {
            let mut w = std::io::BufWriter::with_capacity(64 << 10, w);
            let res = crate::containers::fsops::layer_diff(&up, &mut w);
            match (res, w.into_inner()) {
                (Ok(()), Ok(_)) => Ok(()),
                (Err(e), Ok(w)) => {
                    let msg = e.to_string();
                    w.fail(e);
                    Err(msg)
                }
                (Err(e), Err(_)) => Err(e.to_string()),
                (Ok(()), Err(e)) => Err(e.to_string()),
            }
        });
        let mut writer = store.begin_layer()?;
        let applied = writer.apply(r);
        let produced = producer
            .join()
            .map_err(|_| EngineError::Corrupt("layer diff thread failed".into()))?;
        if let Err(msg) = produced {
            return Err(EngineError::Io {
                op: "read container layer",
                path: upper,
                source: std::io::Error::other(msg),
            });
        }
        let diff = applied?;
        let parent_chain = parent
            .config
            .parsed()
            .rootfs
            .as_ref()
            .and_then(|r| image::digest::chain_id(&r.diff_ids));
        let _g = images.lock();
        let mut diff_ids = parent
            .config
            .parsed()
            .rootfs
            .as_ref()
            .map(|r| r.diff_ids.clone())
            .unwrap_or_default();
        if diff.as_str() != EMPTY_LAYER {
            writer.commit(&diff, parent_chain.as_ref())?;
            diff_ids.push(diff.clone());
        }
        let cfg = child_config(&parent_raw, rec, o, config, container_config, diff.as_str());
        let raw = serde_json::to_vec(&cfg).map_err(|e| EngineError::Corrupt(e.to_string()))?;
        let id = store.put_image(&raw, &diff_ids)?;
        store.set_image_metadata(&id, "parent", parent_id.to_string().as_bytes())?;
        drop(_g);
        let image_ref = if o.repo.is_empty() {
            String::new()
        } else {
            let named = images.tag(id.as_ref(), &o.repo, &o.tag)?;
            named.familiar_string()
        };
        Ok((id.to_string(), image_ref))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_fills_what_the_new_config_leaves_empty() {
        let ctr = json!({
            "User": "app", "Env": ["A=1", "B=2"], "Cmd": ["sh"], "Entrypoint": null,
            "Labels": {"l": "1"}, "ExposedPorts": {"80/tcp": {}}, "WorkingDir": "/w",
        });
        let mut user = json!({"Env": ["B=3"], "Cmd": null, "Labels": {"m": "2"}});
        merge(obj(&mut user), ctr.as_object().unwrap());
        assert_eq!(user["User"], "app");
        assert_eq!(user["Env"], json!(["B=3", "A=1"]));
        assert_eq!(user["Cmd"], json!(["sh"]));
        assert_eq!(user["Labels"], json!({"l": "1", "m": "2"}));
        assert_eq!(user["ExposedPorts"], json!({"80/tcp": {}}));
        assert_eq!(user["WorkingDir"], "/w");
        // An entrypoint of the new config keeps its (empty) command.
        let mut user = json!({"Entrypoint": ["/bin/x"]});
        merge(obj(&mut user), ctr.as_object().unwrap());
        assert!(user.get("Cmd").is_none());
    }

    #[test]
    fn empty_layers_are_recorded_in_history_only() {
        let parent = json!({
            "architecture": "arm64", "variant": "v8", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": ["sha256:aa"]},
            "history": [{"created_by": "base"}],
        });
        let rec: Record = serde_json::from_value(json!({"Id": "c1"})).unwrap_or_default();
        let o = CommitOptions {
            author: "me".into(),
            comment: "msg".into(),
            ..Default::default()
        };
        let c = child_config(
            &parent,
            &rec,
            &o,
            json!({}),
            json!({"Cmd": ["sh", "-c", "x"]}),
            EMPTY_LAYER,
        );
        assert_eq!(c["rootfs"]["diff_ids"], json!(["sha256:aa"]));
        assert_eq!(c["history"][1]["empty_layer"], true);
        assert_eq!(c["history"][1]["created_by"], "sh -c x");
        assert_eq!(c["history"][1]["comment"], "msg");
        assert_eq!(c["author"], "me");
        assert_eq!(c["variant"], "v8");
        let c = child_config(&parent, &rec, &o, json!({}), json!({}), "sha256:bb");
        assert_eq!(c["rootfs"]["diff_ids"], json!(["sha256:aa", "sha256:bb"]));
        assert!(c["history"][1].get("empty_layer").is_none());
    }
}
