import type { FrontConfig } from '../config.ts';
import { ConsistentHash } from './chash.ts';
import { LeastConn } from './least-conn.ts';
import { LeastLoad, type LoadFigures } from './least-load.ts';
import { PowerOfTwo } from './p2c.ts';
import type { Policy } from './policy.ts';
import { RoundRobin } from './round-robin.ts';
import { SourceIp } from './source-ip.ts';

export function createPolicy(cfg: FrontConfig, loads: LoadFigures): Policy {
  switch (cfg.policy) {
    case 'round_robin':
      return new RoundRobin();
    case 'least_conn':
      return new LeastConn();
    case 'p2c':
      return new PowerOfTwo();
    case 'least_load':
      return new LeastLoad(loads);
    case 'source_ip':
      return new SourceIp();
    case 'chash':
      return new ConsistentHash(cfg.chashLoadFactor);
  }
}
