// The CRM API's contract, checked with real validators:
//   node validate.mjs --lint OPENAPI.yaml
//       the document against the OpenAPI 3.1 schema (@seriousme/openapi-schema-validator);
//   node validate.mjs OPENAPI.yaml EXCHANGES.jsonl...
//       every recorded exchange ({method, target, request_body, status, content_type, body}, one
//       per line, as tests/support's CrmApi records them) against the document: the route and
//       method must be documented, the query parameters known and valid, the request body valid
//       (an invalid one must be answered with a documented 4xx), the status documented for the
//       operation, and a JSON answer valid against its schema (Ajv, JSON Schema 2020-12).
// Prints one line per violation; exit status 1 when there is one.
import { readFileSync } from "node:fs";
import YAML from "yaml";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { Validator } from "@seriousme/openapi-schema-validator";

const args = process.argv.slice(2);
const lint = args[0] === "--lint";
if (lint) args.shift();
const [docPath, ...exchangeFiles] = args;
const doc = YAML.parse(readFileSync(docPath, "utf8"));

if (lint) {
  const result = await new Validator().validate(structuredClone(doc));
  if (!result.valid) {
    console.log(JSON.stringify(result.errors, null, 2));
    process.exit(1);
  }
  const problems = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (method === "parameters") continue;
      if (!op.operationId) problems.push(`${method.toUpperCase()} ${path}: no operationId`);
      if (!op.summary) problems.push(`${method.toUpperCase()} ${path}: no summary`);
      for (const [status, r] of Object.entries(op.responses ?? {})) {
        const c = r.content?.["application/json"];
        if (c && !c.example && !c.examples && !c.schema?.example && !c.schema?.$ref)
          problems.push(`${method.toUpperCase()} ${path} ${status}: a JSON answer without an example or schema`);
      }
    }
  }
  for (const p of problems) console.log(p);
  process.exit(problems.length ? 1 : 0);
}

// Every local $ref ("#/components/...") made absolute, so that each schema compiles on its own.
const ROOT = "https://exsync.invalid/openapi.json";
const absolute = (v) =>
  Array.isArray(v) ? v.map(absolute)
  : v && typeof v === "object"
    ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === "$ref" && typeof x === "string" && x.startsWith("#") ? ROOT + x : absolute(x)]))
    : v;
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ $id: ROOT, components: absolute(doc.components ?? {}) });
const compiled = new Map();
const validator = (schema) => {
  const key = JSON.stringify(schema);
  if (!compiled.has(key)) compiled.set(key, ajv.compile(absolute(schema)));
  return compiled.get(key);
};
const resolve = (obj) => (obj && obj.$ref ? resolve(obj.$ref.replace("#/", "").split("/").reduce((o, k) => o[k], doc)) : obj);

// The templates, most literal segments first, so that /v1/webhooks/{name}/replay wins over
// anything looser.
const templates = Object.keys(doc.paths)
  .map((t) => ({ t, parts: t.split("/").slice(1) }))
  .sort((a, b) => b.parts.filter((p) => !p.startsWith("{")).length - a.parts.filter((p) => !p.startsWith("{")).length);
const route = (path) => {
  const segs = path.split("/").slice(1);
  for (const { t, parts } of templates) {
    if (parts.length !== segs.length) continue;
    if (parts.every((p, i) => p.startsWith("{") || p === segs[i])) return t;
  }
  return null;
};

const coerce = (value, schema) => {
  const s = resolve(schema) ?? {};
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  if (type === "integer" || type === "number") return value !== "" && !isNaN(Number(value)) ? Number(value) : value;
  if (type === "boolean") return value === "true" ? true : value === "false" ? false : value;
  return value;
};
const errors = (v) => ajv.errorsText(v.errors, { separator: "; " });

let violations = 0;
const say = (ex, what) => {
  violations++;
  console.log(`${ex.method} ${ex.target} -> ${ex.status}: ${what}`);
};
for (const file of exchangeFiles) {
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line.trim()) continue;
    const ex = JSON.parse(line);
    if (!ex.status) continue;  // no answer at all (the daemon was down): nothing to check
    const url = new URL(ex.target, "http://api.invalid");
    const t = route(url.pathname);
    const op = t && doc.paths[t][ex.method.toLowerCase()];
    if (!op) {
      // A method the route lacks must be 405; a route the API lacks, 404.
      if (t && ex.status === 405) continue;
      if (!t && ex.status === 404) continue;
      say(ex, t ? `method not documented for ${t}` : "route not documented");
      continue;
    }
    let invalid = null;
    const params = [...(doc.paths[t].parameters ?? []), ...(op.parameters ?? [])].map(resolve);
    for (const [name, value] of url.searchParams) {
      const p = params.find((q) => q.in === "query" && q.name === name);
      if (!p) {
        invalid ??= `query parameter ${name} not documented`;
        continue;
      }
      const v = validator(p.schema ?? {});
      if (!v(coerce(value, p.schema))) invalid ??= `query ${name}=${value}: ${errors(v)}`;
    }
    for (const p of params.filter((q) => q.in === "query" && q.required))
      if (!url.searchParams.has(p.name)) invalid ??= `query parameter ${p.name} missing`;
    const body = resolve(op.requestBody);
    if (ex.request_body) {
      const schema = body?.content?.["application/json"]?.schema;
      if (!schema) invalid ??= "a request body where none is documented";
      else {
        let parsed;
        try {
          parsed = JSON.parse(ex.request_body);
        } catch {
          invalid ??= "a request body that is not JSON";
        }
        if (parsed !== undefined) {
          const v = validator(schema);
          if (!v(parsed)) invalid ??= `request body: ${errors(v)}`;
        }
      }
    } else if (body?.required) {
      invalid ??= "the required request body missing";
    }
    const response = resolve(op.responses[String(ex.status)] ?? op.responses.default);
    if (!response) {
      say(ex, `status ${ex.status} not documented for ${ex.method} ${t}${invalid ? ` (request: ${invalid})` : ""}`);
      continue;
    }
    if (invalid && ex.status < 400) say(ex, `an invalid request was accepted: ${invalid}`);
    const json = response.content?.["application/json"];
    if (json?.schema) {
      if (!(ex.content_type ?? "").startsWith("application/json")) {
        say(ex, `answered ${ex.content_type || "without a content type"}, documented application/json`);
        continue;
      }
      let parsed;
      try {
        parsed = JSON.parse(ex.body);
      } catch {
        say(ex, "an answer that is not JSON");
        continue;
      }
      const v = validator(json.schema);
      if (!v(parsed)) say(ex, `answer: ${errors(v)}`);
    } else if (!response.content && ex.body) {
      say(ex, "an answer with a body where none is documented");
    }
  }
}
process.exit(violations ? 1 : 0);
