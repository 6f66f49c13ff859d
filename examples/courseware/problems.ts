// The course itself: its problems and what its pages need from the app around them.
import type express from 'express';
import type { CohortClient } from '../../src/client/client.ts';

/** The course's problems: the published page, and the right answer (kept in the app, not in the page). */
export const PROBLEMS: Record<string, { title: string; url: string; answer: number; tolerance: number }> = {
  problem1: { title: 'Problem 1: free fall', url: '/res/msu/ann/physics/problem1.html', answer: 9.8, tolerance: 0.05 },
};

export interface CourseDeps {
  nodeId: string;
  client: () => Promise<CohortClient>;
  /** The logged-in user of this request, if any. */
  userOf: (req: express.Request) => { domain: string; user: string } | undefined;
  page: (res: express.Response, status: number, title: string, body: string[]) => void;
}
