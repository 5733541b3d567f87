//! What readers below operator may see of a stored blueprint: everything but its secrets. Env values
//! (`HF_TOKEN`…), the inference gateway's API key and object storage pre-authenticated request URLs
//! (a PAR is a credential) become [`REDACTED`].

use serde_json::Value;

/// What a hidden value reads as.
pub const REDACTED: &str = "<redacted: operators see it>";

/// `text` with every secret value replaced by [`REDACTED`], as pretty JSON. Text that is not JSON
/// (never stored: only validated blueprints are) is hidden whole.
pub fn redact(text: &str) -> String {
    let Ok(mut v) = serde_json::from_str::<Value>(text) else {
        return format!("\"{REDACTED}\"");
    };
    redact_value(&mut v);
    serde_json::to_string_pretty(&v).unwrap_or_else(|_| format!("\"{REDACTED}\""))
}

/// [`redact`] on a parsed blueprint.
pub fn redact_value(v: &mut Value) {
    let hide = |x: &mut Value| {
        if !x.is_null() {
            *x = Value::String(REDACTED.to_owned());
        }
    };
    let Some(o) = v.as_object_mut() else {
        return;
    };
    if let Some(env) = o.get_mut("recipe_container_env").and_then(Value::as_array_mut) {
        for e in env {
            if let Some(value) = e.get_mut("value") {
                hide(value);
            }
        }
    }
    if let Some(key) = o
        .get_mut("recipe_inference_gateway")
        .and_then(|g| g.get_mut("api_key"))
    {
        hide(key);
    }
    for member in ["input_object_storage", "output_object_storage"] {
        if let Some(list) = o.get_mut(member).and_then(Value::as_array_mut) {
            for item in list {
                if let Some(par) = item.get_mut("par") {
                    hide(par);
                }
            }
        }
    }
}
