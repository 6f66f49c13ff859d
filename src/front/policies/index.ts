import type { RouteConfig } from '../config.ts';
import { LardPolicy } from './lard.ts';
import { ConsistentHash } from './chash.ts';
import { LeastConn } from './least-conn.ts';
import { LeastLoad, type LoadFigures } from './least-load.ts';
import { PowerOfTwo } from './p2c.ts';
import type { Policy } from './policy.ts';
import { RoundRobin } from './round-robin.ts';
import { SourceIp } from './source-ip.ts';

export function createPolicy(cfg: RouteConfig, loads: LoadFigures): Policy {
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
    case 'lard':
    case 'lard_r':
      return new LardPolicy(cfg.policy, { tLow: cfg.lard.tLow, tHigh: cfg.lard.tHigh, kMs: cfg.lard.kS * 1000, maxTargets: cfg.lard.maxTargets }, cfg.lard.query);
  }
}
