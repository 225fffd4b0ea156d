//! Nudge's message templates: the template document, compiling its parts with Liquid,
//! strict rendering with Customer.io's variables (an undefined variable fails the render
//! unless a `default` filter covers it), the `money` and `local_date` filters, and the
//! variables a template reads. No IO, no clock, no store.

mod context;
mod document;
mod expression;
mod filters;
mod guards;
mod liquid_errors;
mod markup;
mod optional;
mod render;
mod variables;

pub use context::{EventContext, RenderContext};
pub use document::{parse_template, Channel, TemplateError};
pub use nudge_core::JsonMap;
pub use render::{RenderError, Rendered, Template, VariableRef};
