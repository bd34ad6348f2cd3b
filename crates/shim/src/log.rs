//! The container's log: output chunks in, driver messages out. The driver
//! is behind [`LogSink`] so the event loop does not know which one runs.

use std::time::SystemTime;

use logger::{LineSplitter, LogWriter, Message, Stream};

use crate::proto::LogSpec;

/// Errors opening the log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The driver refused its options or could not open.
    #[error("log driver {driver}: {message}")]
    Driver {
        /// The driver's name.
        driver: String,
        /// Its error chain.
        message: String,
    },
}

/// Where the container's output goes besides attached clients.
pub(crate) trait LogSink {
    /// Takes a chunk the container wrote.
    fn write(&mut self, stream: Stream, data: &[u8]);
    /// Ends both streams (flushing partial lines) and closes the driver.
    fn finish(&mut self);
}

/// A [`LogSink`] over one of the `logger` crate's drivers, with Docker's
/// line splitting. Write errors are counted, reported once on the shim log,
/// and never stop the container or its streams.
pub(crate) struct DriverSink {
    writer: Box<dyn LogWriter>,
    out: LineSplitter,
    err: LineSplitter,
    errors: u64,
}

/// Opens the configured driver.
pub(crate) fn open(spec: &LogSpec, id: &str) -> Result<DriverSink, LogError> {
    let fail = |e: logger::LogError| LogError::Driver {
        driver: spec.driver.clone(),
        message: crate::runtime::error_chain(&e),
    };
    let cfg = logger::validate(&spec.driver, &spec.opts).map_err(fail)?;
    let info = logger::ContainerInfo {
        id: id.to_string(),
        name: spec
            .container_name
            .strip_prefix('/')
            .unwrap_or(&spec.container_name)
            .to_string(),
        image_name: spec.image_name.clone(),
        image_id: spec.image_id.clone(),
        labels: spec.labels.clone(),
        env: spec.env.clone(),
        daemon_name: "balena-engine".to_string(),
    };
    let writer = logger::open_writer(&cfg, &info, &spec.path).map_err(fail)?;
    Ok(DriverSink {
        writer,
        out: LineSplitter::new(Stream::Stdout),
        err: LineSplitter::new(Stream::Stderr),
        errors: 0,
    })
}

impl DriverSink {
    fn emit(writer: &mut dyn LogWriter, errors: &mut u64, msg: &Message) {
        if let Err(e) = writer.log(msg) {
            if *errors == 0 {
                eprintln!("log write failed (further failures are counted): {e}");
            }
            *errors += 1;
        }
    }
}

impl LogSink for DriverSink {
    fn write(&mut self, stream: Stream, data: &[u8]) {
        let now = SystemTime::now();
        let splitter = match stream {
            Stream::Stdout => &mut self.out,
            Stream::Stderr => &mut self.err,
        };
        let writer = &mut *self.writer;
        let errors = &mut self.errors;
        splitter.push(data, now, &mut |m| Self::emit(writer, errors, &m));
    }

    fn finish(&mut self) {
        let now = SystemTime::now();
        let writer = &mut *self.writer;
        let errors = &mut self.errors;
        self.out
            .finish(now, &mut |m| Self::emit(writer, errors, &m));
        self.err
            .finish(now, &mut |m| Self::emit(writer, errors, &m));
        if let Err(e) = self.writer.close() {
            eprintln!("log close failed: {e}");
        }
        if self.errors > 0 {
            eprintln!("log: {} message(s) could not be written", self.errors);
        }
    }
}
