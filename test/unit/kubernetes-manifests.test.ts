import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { configOptions } from '../../src/config/options.js';
import { ROOT } from '../helpers/server-app.js';

/**
 * docker/kubernetes/*.yaml against the Kubernetes API schemas (kubernetes-models: the OpenAPI definitions of
 * the API server compiled to validators, shipped in the npm package: nothing is downloaded), then what the
 * schemas cannot know: probes on the routes the server serves, the drain budget, the PDB and per-pod routing
 * matching the statefulsets, and DITTO_* variables the server actually reads.
 */

const DIR = join(ROOT, 'docker', 'kubernetes');

interface Manifest {
  file: string;
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
}

function load(): Manifest[] {
  const out: Manifest[] = [];
  for (const file of readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const doc of parseAllDocuments(readFileSync(join(DIR, file), 'utf8'))) {
      if (doc.errors.length) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
      const value = doc.toJS();
      if (value !== null) out.push({ file, ...value });
    }
  }
  return out;
}

async function modelClass(apiVersion: string, kind: string): Promise<{ new (d: unknown): { validate(): void } }> {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const mod = await import(`kubernetes-models/${group ? `${group}/` : ''}${version}/${kind}`);
  return mod[kind];
}

const manifests = load();
const byKind = (kind: string) => manifests.filter((m) => m.kind === kind);
const find = (kind: string, name: string) => manifests.find((m) => m.kind === kind && m.metadata.name === name);

t.test('every document validates against its Kubernetes schema', async (t) => {
  t.ok(manifests.length >= 10, `${manifests.length} documents`);
  for (const m of manifests) {
    const { file, ...object } = m;
    const Model = await modelClass(m.apiVersion, m.kind);
    t.doesNotThrow(() => new Model(object).validate(), `${file}: ${m.kind}/${m.metadata.name}`);
    if (m.kind !== 'Namespace') t.equal(m.metadata.namespace, 'ditto-gst', `${m.kind}/${m.metadata.name} namespace`);
  }
});

t.test('the validator catches what it should (it is not a rubber stamp)', async (t) => {
  const Model = await modelClass('apps/v1', 'StatefulSet');
  const sts = structuredClone(find('StatefulSet', 'ditto-gst-gpu')!) as any;
  delete sts.file;
  sts.spec.template.spec.containers[0].ports[0].containerPort = 'http';
  t.throws(() => new Model(sts).validate(), /containerPort/);
  const noSelector = structuredClone(find('StatefulSet', 'ditto-gst-cpu')!) as any;
  delete noSelector.file;
  delete noSelector.spec.selector;
  t.throws(() => new Model(noSelector).validate(), /selector/);
});

t.test('statefulsets: probes, drain budget, GPU, media networking, PDB, per-pod routes', async (t) => {
  const known = new Set(configOptions().map((o) => o.env));
  const iceOptions = known.has('DITTO_ICE_SERVERS');
  const config = find('ConfigMap', 'ditto-gst')!;
  for (const key of Object.keys(config.data ?? {})) {
    if (key !== 'DITTO_INSTANCE_BASE_URL') t.ok(known.has(key), `ConfigMap ${key} is a server option`);
  }
  const drainS = Number(config.data!['DITTO_LIFECYCLE_DRAIN_TIMEOUT_S']);
  t.ok(drainS > 0);
  const routes = byKind('Service');
  const ingress = byKind('Ingress')[0]!;
  const paths: { path: string; backend: { service: { name: string } } }[] = ingress.spec.rules[0].http.paths;
  for (const sts of byKind('StatefulSet')) {
    const pod = sts.spec.template.spec;
    const c = pod.containers[0];
    t.same(sts.spec.selector.matchLabels, Object.fromEntries(Object.entries(sts.spec.template.metadata.labels).filter(([k]) => k in sts.spec.selector.matchLabels)), `${sts.metadata.name}: selector matches the pod labels`);
    t.equal(c.readinessProbe.httpGet.path, '/readyz', `${sts.metadata.name}: readiness from /readyz`);
    t.equal(c.livenessProbe.httpGet.path, '/healthz');
    const preStopS = Number(c.lifecycle.preStop.exec.command[1]);
    t.ok(pod.terminationGracePeriodSeconds > preStopS + drainS, `${sts.metadata.name}: grace period ${pod.terminationGracePeriodSeconds} s covers preStop ${preStopS} s + drain ${drainS} s`);
    const env = new Map<string, any>(c.env.map((e: any) => [e.name, e]));
    t.equal(env.get('DITTO_INSTANCE_ID').value, '$(POD_NAME)', 'instance id = pod name');
    t.equal(env.get('POD_NAME').valueFrom.fieldRef.fieldPath, 'metadata.name');
    for (const name of env.keys()) {
      // DITTO_POOL_* belong to the GPU image's worker pool (docker/gpu-entrypoint.sh), not to the server
      if (!name.startsWith('DITTO_') || name.startsWith('DITTO_POOL_')) continue;
      // The TURN/port-range options come with the ICE work (issue 11's other half): strict once it is in the tree.
      if (name.startsWith('DITTO_ICE_') && !iceOptions) continue;
      t.ok(known.has(name), `${sts.metadata.name}: ${name} is a server option`);
    }
    const gpu = sts.metadata.name.includes('gpu');
    if (gpu) {
      t.equal(String(c.resources.limits['nvidia.com/gpu']), '1', 'one GPU per pod');
      t.equal(pod.hostNetwork, true, 'GPU pods: host networking for media');
      t.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet');
    } else {
      t.ok(env.has('DITTO_ICE_SERVERS') && env.has('DITTO_ICE_TURN_SECRET'), 'CPU pods on the pod network relay media through TURN');
    }
    const pdb = byKind('PodDisruptionBudget').find((p) => p.metadata.name === sts.metadata.name);
    t.ok(pdb, `${sts.metadata.name} has a PodDisruptionBudget`);
    t.same(pdb!.spec.selector.matchLabels, sts.spec.selector.matchLabels, 'PDB selects the statefulset\'s pods');
    for (let i = 0; i < sts.spec.replicas; i++) {
      const podName = `${sts.metadata.name}-${i}`;
      const svc = routes.find((s) => s.spec.selector['statefulset.kubernetes.io/pod-name'] === podName);
      t.ok(svc, `a Service for ${podName}`);
      t.equal(svc?.spec.publishNotReadyAddresses, true, 'reachable while draining');
      t.ok(paths.some((p) => p.path === `/i/${podName}` && p.backend.service.name === svc?.metadata.name), `Ingress routes /i/${podName}`);
    }
  }
  const main = find('Service', 'ditto-gst')!;
  t.equal(main.spec.publishNotReadyAddresses, undefined, 'new offers only reach ready pods');
  t.ok(paths.some((p) => p.path === '/' && p.backend.service.name === 'ditto-gst'));
});
