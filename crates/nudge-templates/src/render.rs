//! A compiled template and its strict rendering: every part is compiled once with Liquid's
//! standard library plus Nudge's filters, and rendering fails (naming the variable) instead of
//! printing a blank for an undefined value.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use serde::Serialize;

use crate::context::RenderContext;
use crate::document::{Channel, PartName};
use crate::filters::{LocalDate, Money};
use crate::guards::{check_nesting, check_supported_tags};
use crate::liquid_errors::{render_failure, syntax_message};
use crate::optional::{tolerate_defaults, OptionalLookup};
use crate::variables::strict_reads;

/// A validated, compiled template.
#[derive(Clone)]
pub struct Template {
    pub id: String,
    pub channel: Channel,
    /// The subscription topic its messages belong to (`topic_1`), if any.
    pub topic: Option<String>,
    parts: Vec<CompiledPart>,
}

#[derive(Clone)]
pub(crate) struct CompiledPart {
    name: PartName,
    source: String,
    compiled: Arc<liquid::Template>,
    strict_reads: Vec<String>,
}

/// A variable a template reads where an undefined value fails the render.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct VariableRef {
    /// `subject`, `title`, `body` or `html`.
    pub part: String,
    /// `event.cart_value`, `customer.first_name`, `event.items[].price` for loop members.
    pub path: String,
}

/// A rendered message: the parts its channel has.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rendered {
    pub subject: Option<String>,
    pub title: Option<String>,
    pub body: String,
    pub html: Option<String>,
}

/// Why a part could not be rendered; `variable` names an undefined variable when that is why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{part}: {message}")]
pub struct RenderError {
    pub part: String,
    pub variable: Option<String>,
    pub message: String,
}

impl Template {
    pub(crate) fn new(id: String, channel: Channel, parts: Vec<CompiledPart>) -> Self {
        Self {
            id,
            channel,
            topic: None,
            parts,
        }
    }

    /// Every variable path the template reads outside a `default` filter (and outside an
    /// existence test such as `{% if customer.vip %}`), part by part, each path once per part.
    pub fn variables(&self) -> Vec<VariableRef> {
        self.parts
            .iter()
            .flat_map(|part| {
                part.strict_reads.iter().map(|path| VariableRef {
                    part: part.name.as_str().to_owned(),
                    path: path.clone(),
                })
            })
            .collect()
    }

    /// Renders every part; the first part that fails fails the whole message.
    pub fn render(&self, context: &RenderContext) -> Result<Rendered, RenderError> {
        let globals = context.globals();
        let mut rendered = Rendered {
            subject: None,
            title: None,
            body: String::new(),
            html: None,
        };
        for part in &self.parts {
            let failure = |variable, message| RenderError {
                part: part.name.as_str().to_owned(),
                variable,
                message,
            };
            // Liquid's parser panics on some inputs; should its renderer, the message fails,
            // not the caller.
            let text = catch_unwind(AssertUnwindSafe(|| part.compiled.render(&globals)))
                .map_err(|_| failure(None, "the Liquid engine failed on this template".into()))?
                .map_err(|error| {
                    let (variable, message) = render_failure(&error);
                    failure(variable, message)
                })?;
            match part.name {
                PartName::Subject => rendered.subject = Some(text),
                PartName::Title => rendered.title = Some(text),
                PartName::Body => rendered.body = text,
                PartName::Html => rendered.html = Some(text),
            }
        }
        Ok(rendered)
    }
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Template");
        debug.field("id", &self.id).field("channel", &self.channel);
        for part in &self.parts {
            debug.field(part.name.as_str(), &part.source);
        }
        debug.finish()
    }
}

/// The Liquid parser every part is compiled with.
pub(crate) fn liquid_parser() -> Result<liquid::Parser, String> {
    liquid::ParserBuilder::with_stdlib()
        .filter(Money)
        .filter(LocalDate)
        .filter(OptionalLookup)
        .build()
        .map_err(|error| format!("the Liquid parser could not be built: {error}"))
}

/// Compiles one part; the error is Liquid's message with its line.
pub(crate) fn compile_part(
    parser: &liquid::Parser,
    name: PartName,
    source: &str,
) -> Result<CompiledPart, String> {
    check_nesting(source)?;
    parse_guarded(parser, source)?;
    check_supported_tags(source)?;
    let tolerant = tolerate_defaults(source);
    let compiled = parse_guarded(parser, &tolerant)?;
    Ok(CompiledPart {
        name,
        source: source.to_owned(),
        compiled: Arc::new(compiled),
        strict_reads: strict_reads(source),
    })
}

/// Parses with Liquid, turning its errors, and any panic inside it, into a message.
fn parse_guarded(parser: &liquid::Parser, source: &str) -> Result<liquid::Template, String> {
    catch_unwind(AssertUnwindSafe(|| parser.parse(source)))
        .map_err(|_| "the Liquid parser failed on this source".to_owned())?
        .map_err(|error| syntax_message(&error, source))
}
