/**
 * The layering of the server, checked by `npm test` (npm run lint:deps). Lower layers
 * never import higher ones, so there are no cycles between folders:
 *   protocol, net  <  config, logging  <  media  <  stats  <  cluster  <  signaling  <  admin  <  http
 * and the browser app (client/) uses nothing of the server but src/protocol.
 */
const layers = [
  'protocol|net',
  'config|logging',
  'media',
  'stats',
  'cluster',
  'signaling',
  'admin',
  'http',
];

const higher = (index) =>
  `^src/(${layers
    .slice(index + 1)
    .flatMap((l) => l.split('|'))
    .join('|')})/`;

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Modules must not depend on each other in a cycle.',
      from: {},
      to: { circular: true },
    },
    ...layers.slice(0, -1).map((layer, index) => ({
      name: `layer-${layer.replace('|', '-')}`,
      severity: 'error',
      comment: `src/${layer} must not import the layers above it.`,
      from: { path: `^src/(${layer})/` },
      to: { path: higher(index) },
    })),
    {
      name: 'protocol-stands-alone',
      severity: 'error',
      comment: 'The protocol is shared with the browser: it imports nothing of the server.',
      from: { path: '^src/protocol/' },
      to: { path: '^src/', pathNot: '^src/protocol/' },
    },
    {
      name: 'media-knows-no-wire',
      severity: 'error',
      comment: 'The media layer emits domain events; only signaling speaks the protocol.',
      from: { path: '^src/media/' },
      to: { path: '^src/protocol/' },
    },
    {
      name: 'client-uses-only-the-protocol',
      severity: 'error',
      comment: 'The browser app shares the protocol module and nothing else of the server.',
      from: { path: '^client/' },
      to: { path: '^src/', pathNot: '^src/protocol/' },
    },
    {
      name: 'entry-points-are-leaves',
      severity: 'error',
      comment: 'Nothing in a layer imports the composition root.',
      from: { path: '^src/[^/]+/' },
      to: { path: '^src/(GhostTalkServer|GhostTalkServerTypes|main)\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
