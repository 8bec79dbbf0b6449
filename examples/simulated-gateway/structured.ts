/**
 * Structured replies: tool calls built from the request's `tools`, and JSON content built from
 * its `response_format` (a value that fits the JSON schema, not a model's guess).
 */
import { randomBytes } from 'node:crypto';

export interface ToolDefinition {
  name: string;
  parameters?: unknown;
}

export interface SimulatedToolCall {
  id: string;
  name: string;
  /** A JSON string, as the gateway sends it. */
  arguments: string;
}

/** One call of `tool`, with arguments that fit its parameter schema. */
export function toolCallFor(tool: ToolDefinition, text: string): SimulatedToolCall {
  const args = exampleValue(tool.parameters ?? { type: 'object', properties: {} }, text);
  return { id: `call_${randomBytes(12).toString('hex')}`, name: tool.name, arguments: JSON.stringify(args) };
}

/** The JSON a `response_format` asks for: the schema's shape for json_schema, `{reply}` for json_object. */
export function jsonReplyFor(
  format: { type: 'json_object' } | { type: 'json_schema'; schema: unknown },
  text: string,
): string {
  return JSON.stringify(format.type === 'json_schema' ? exampleValue(format.schema, text) : { reply: text });
}

const MAX_DEPTH = 4;
const MAX_PROPERTIES = 16;

/** A value that fits a (JSON Schema) `schema`, with `text` for every string. */
export function exampleValue(schema: unknown, text: string, depth = 0): unknown {
  if (!isRecord(schema)) return text;
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  switch (type ?? (isRecord(schema.properties) ? 'object' : 'string')) {
    case 'object': {
      if (depth >= MAX_DEPTH || !isRecord(schema.properties)) return {};
      const out: Record<string, unknown> = {};
      for (const [name, property] of Object.entries(schema.properties).slice(0, MAX_PROPERTIES)) {
        out[name] = exampleValue(property, text, depth + 1);
      }
      return out;
    }
    case 'array':
      return depth >= MAX_DEPTH ? [] : [exampleValue(schema.items, text, depth + 1)];
    case 'integer':
      return typeof schema.minimum === 'number' ? Math.ceil(schema.minimum) : 1;
    case 'number':
      return typeof schema.minimum === 'number' ? schema.minimum : 1.5;
    case 'boolean':
      return true;
    case 'null':
      return null;
    default:
      return text;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
