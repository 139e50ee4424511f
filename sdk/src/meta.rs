use crate::wit::baton::stage::types::StageMeta;

/// What a stage says about itself; `baton plugin inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    name: String,
    version: String,
    description: String,
    config_schema: Option<String>,
}

impl Meta {
    /// A stage called `name` at plugin version `version` (use `env!("CARGO_PKG_VERSION")`).
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self { name: name.into(), version: version.into(), description: String::new(), config_schema: None }
    }

    /// One line on what the stage does.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    /// The JSON Schema of the step's `with` table.
    pub fn config_schema(mut self, schema: impl Into<String>) -> Self {
        self.config_schema = Some(schema.into());
        self
    }
}

impl From<Meta> for StageMeta {
    fn from(m: Meta) -> Self {
        StageMeta { name: m.name, version: m.version, description: m.description, config_schema: m.config_schema }
    }
}
