//! The JSON Schema of [`RawRecipe`], generated from the same structs the reader fills, plus what
//! the rules require per mode (`if recipe_mode is X then required [...]`). Feature `schema`.

use serde_json::{Value, json};

use super::raw::{RawRecipe, RecipeMode};
use super::rules::MODE_REQUIRED;

/// The schema served at `GET /api/v1/blueprints/schema` (JSON Schema draft 2020-12).
pub fn json_schema() -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let mut schema = generator.into_root_schema_for::<RawRecipe>().to_value();
    // Members are optional, not nullable: `null` is refused like any other wrong type.
    drop_null(&mut schema);
    if let Some(obj) = schema.as_object_mut() {
        obj.insert(
            "$id".into(),
            json!("https://migboard.dev/schemas/blueprint.json"),
        );
        obj.insert(
            "description".into(),
            json!("One OCI AI Blueprints recipe as migboard accepts it: every member of OCI's recipe_payload. Rules beyond types (targets exist, MIG slices configured, capacity) are checked by POST /api/v1/blueprints/validate."),
        );
        obj.insert("required".into(), json!(RawRecipe::REQUIRED));
        let per_mode: Vec<Value> = MODE_REQUIRED
            .iter()
            .filter(|(_, keys)| !keys.is_empty())
            .map(|(mode, keys)| {
                json!({
                    "if": { "properties": { "recipe_mode": { "const": mode.as_str() } }, "required": ["recipe_mode"] },
                    "then": { "required": keys }
                })
            })
            .collect();
        let update = json!({
            "if": { "properties": { "recipe_mode": { "const": RecipeMode::Update.as_str() } }, "required": ["recipe_mode"] },
            "then": { "oneOf": [ { "required": ["recipe_node_name"] }, { "required": ["recipe_node_pool_name"] } ] }
        });
        let mut all = per_mode;
        all.push(update);
        obj.insert("allOf".into(), Value::Array(all));
    }
    schema
}

/// Removes the `null` alternative schemars adds for `Option` members.
fn drop_null(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".into(), only);
                }
            }
            let single = match map.get_mut("anyOf") {
                Some(Value::Array(alts)) => {
                    alts.retain(|a| a.get("type").and_then(Value::as_str) != Some("null"));
                    (alts.len() == 1).then(|| alts.remove(0))
                }
                _ => None,
            };
            if let Some(Value::Object(inner)) = single {
                map.remove("anyOf");
                map.extend(inner);
            }
            map.values_mut().for_each(drop_null);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null),
        _ => {}
    }
}
