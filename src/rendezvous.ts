import { createHash } from 'node:crypto';

/**
 * Rendezvous (highest-random-weight) hashing: of `nodes`, the one whose hash with `key` scores
 * highest. Adding or losing a node moves only the keys that were on it.
 */
export function rendezvousTop<N extends { id: string }>(key: string, nodes: readonly N[]): N | undefined {
  let best: N | undefined;
  let bestScore = '';
  for (const n of nodes) {
    const score = createHash('sha256').update(`${n.id}\0${key}`).digest('hex');
    if (score > bestScore) [best, bestScore] = [n, score];
  }
  return best;
}
