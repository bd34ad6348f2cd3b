//! The json-file driver: writer with size-based rotation and reader with
//! tail, since/until and follow across rotations.

mod reader;
mod writer;

pub use reader::parse_json_line;
pub(crate) use reader::{read, MAX_LINE};
pub(crate) use writer::JsonFileWriter;
