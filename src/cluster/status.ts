// What /readyz adds on a cluster node: its role, and what it sees of the cluster. The schema is
// the HTTP layer's (OpenAPI) and the type the backends fill in.
import { Type, type Static } from 'typebox';

export const ClusterStatus = Type.Object({
  role: Type.Union([Type.Literal('api'), Type.Literal('worker'), Type.Literal('all')]),
  database: Type.Literal('ok'),
  redis: Type.Literal('ok'),
  workers: Type.Integer({ minimum: 0, description: 'worker nodes with a recent heartbeat' }),
  slots: Type.Integer({ minimum: 0, description: 'judging slots over those workers' }),
}, { description: 'cluster mode only' });
export type ClusterStatus = Static<typeof ClusterStatus>;
