// Validates Kubernetes manifests offline against the API schemas bundled in kubernetes-models
// (no cluster, no network), and custom resources against the OpenAPI schema of their CRD in
// crds/ (the Prometheus Operator's ServiceMonitor). usage: node validate.mjs FILE.yaml... ;
// exit 1 on any invalid object.
import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { parseAllDocuments } from "yaml";
import path from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);

// apiVersion "v1" -> kubernetes-models/v1, "apps/v1" -> kubernetes-models/apps/v1.
function modelFor(apiVersion, kind) {
    if (typeof apiVersion !== "string" || typeof kind !== "string" || !/^[A-Za-z0-9]+$/.test(kind)) {
        throw new Error("apiVersion and kind must be strings");
    }
    if (!/^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion)) {
        throw new Error(`malformed apiVersion ${JSON.stringify(apiVersion)}`);
    }
    let mod;
    try {
        mod = require(`kubernetes-models/${apiVersion}/${kind}`);
    } catch {
        throw new Error(`unknown kind ${kind} in ${apiVersion} (not in the bundled Kubernetes API)`);
    }
    const model = mod[kind];
    if (typeof model !== "function") {
        throw new Error(`unknown kind ${kind} in ${apiVersion}`);
    }
    return model;
}

// kubernetes-models' JSON Schemas check types, required fields and enums but accept unknown
// field names, so `hostPid: true` would pass. TypeScript's excess-property check against the same
// package's interfaces rejects them: every object becomes a typed literal in one virtual file.
function unknownFieldErrors(items) {
    if (items.length === 0) return [];
    const ts = require("typescript");
    const here = path.dirname(fileURLToPath(import.meta.url));
    const virtual = path.join(here, "__manifests__.ts");
    const lines = [];
    const owners = [];  // line index -> item
    items.forEach((item, i) => {
        lines.push(`import type { I${item.kind} as T${i} } from "kubernetes-models/${item.apiVersion}/${item.kind}";`);
        owners.push(item);
    });
    items.forEach((item, i) => {
        const body = `export const doc${i}: T${i} = ${JSON.stringify(item.obj, null, 2)};`.split("\n");
        for (const line of body) {
            lines.push(line);
            owners.push(item);
        }
    });
    const text = lines.join("\n");
    const options = {
        strict: true, noEmit: true, skipLibCheck: true, types: [],
        target: ts.ScriptTarget.ES2020, module: ts.ModuleKind.CommonJS,
        moduleResolution: ts.ModuleResolutionKind.Node10,
    };
    const host = ts.createCompilerHost(options);
    const getSourceFile = host.getSourceFile.bind(host);
    host.getSourceFile = (name, version, ...rest) =>
        name === virtual ? ts.createSourceFile(name, text, version) : getSourceFile(name, version, ...rest);
    const fileExists = host.fileExists.bind(host);
    host.fileExists = (name) => name === virtual || fileExists(name);
    const program = ts.createProgram([virtual], options, host);
    const errors = [];
    for (const diag of ts.getPreEmitDiagnostics(program)) {
        const message = ts.flattenDiagnosticMessageText(diag.messageText, " ");
        if (diag.file?.fileName !== virtual || diag.start === undefined) {
            errors.push({ item: null, message });
            continue;
        }
        const { line } = diag.file.getLineAndCharacterOfPosition(diag.start);
        errors.push({ item: owners[line], message: `${message} (at: ${lines[line].trim()})` });
    }
    return errors;
}

// Custom resources: "group/version Kind" -> an ajv validator of the CRD's openAPIV3Schema. The
// schema is made strict the way the API server prunes: a field not in `properties` is an error
// (unless the schema preserves unknown fields or declares additionalProperties).
function loadCrds() {
    const here = path.dirname(fileURLToPath(import.meta.url));
    const dir = path.join(here, "crds");
    const Ajv = require("ajv");
    const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false, logger: false });
    const close = (schema) => {
        if (schema === null || typeof schema !== "object") return schema;
        for (const value of Object.values(schema)) close(value);
        if (schema.properties && schema.additionalProperties === undefined &&
            !schema["x-kubernetes-preserve-unknown-fields"]) {
            schema.additionalProperties = false;
        }
        if (schema["x-kubernetes-int-or-string"]) {
            delete schema.type;
            schema.anyOf = [{ type: "integer" }, { type: "string" }];
        }
        return schema;
    };
    const validators = new Map();
    for (const name of readdirSync(dir).filter((f) => f.endsWith(".yaml"))) {
        for (const doc of parseAllDocuments(readFileSync(path.join(dir, name), "utf8"))) {
            const crd = doc.toJS();
            if (crd?.kind !== "CustomResourceDefinition") continue;
            for (const version of crd.spec.versions) {
                const schema = close(structuredClone(version.schema.openAPIV3Schema));
                // metadata is the API server's ObjectMeta, not described by the CRD.
                if (schema.properties?.metadata) schema.properties.metadata = { type: "object" };
                validators.set(`${crd.spec.group}/${version.name} ${crd.spec.names.kind}`, ajv.compile(schema));
            }
        }
    }
    return validators;
}
const crds = loadCrds();

let failures = 0;
let checked = 0;
const typed = [];
const files = process.argv.slice(2);
if (files.length === 0) {
    console.error("usage: node validate.mjs FILE.yaml...");
    process.exit(2);
}
for (const file of files) {
    let docs;
    try {
        docs = parseAllDocuments(readFileSync(file, "utf8"));
    } catch (err) {
        console.error(`${file}: ${err.message}`);
        failures++;
        continue;
    }
    docs.forEach((doc, index) => {
        const where = `${file}: document ${index + 1}`;
        if (doc.errors.length > 0) {
            for (const err of doc.errors) console.error(`${where}: YAML: ${err.message}`);
            failures++;
            return;
        }
        const obj = doc.toJS();
        if (obj === null || obj === undefined) return;  // empty document between separators
        const custom = crds.get(`${obj.apiVersion} ${obj.kind}`);
        if (custom) {
            if (custom(obj) && typeof obj.metadata?.name === "string") {
                checked++;
                console.log(`${where}: ${obj.apiVersion} ${obj.kind} ${obj.metadata.name}: valid (CRD schema)`);
            } else {
                const errors = (custom.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message}` +
                    (e.params?.additionalProperty ? ` (${e.params.additionalProperty})` : ""));
                if (typeof obj.metadata?.name !== "string") errors.push("metadata.name is missing");
                console.error(`${where}: ${obj.kind} ${obj.metadata?.name ?? ""}: ${errors.join("; ")}`);
                failures++;
            }
            return;
        }
        try {
            const Model = modelFor(obj.apiVersion, obj.kind);
            new Model(obj).validate();
            typed.push({ where, apiVersion: obj.apiVersion, kind: obj.kind, obj });
        } catch (err) {
            console.error(`${where}: ${obj?.kind ?? "object"} ${obj?.metadata?.name ?? ""}: ${err.message}`);
            failures++;
        }
    });
}
const fieldErrors = unknownFieldErrors(typed);
for (const { item, message } of fieldErrors) {
    console.error(`${item ? `${item.where}: ${item.kind} ${item.obj.metadata?.name ?? ""}` : "type check"}: ${message}`);
}
for (const item of typed) {
    if (fieldErrors.some((e) => e.item === item || e.item === null)) {
        failures++;
    } else {
        checked++;
        console.log(`${item.where}: ${item.apiVersion} ${item.kind} ${item.obj.metadata?.name ?? "(no name)"}: valid`);
    }
}
console.log(`${checked} objects valid, ${failures} invalid`);
process.exit(failures === 0 && checked > 0 ? 0 : 1);
