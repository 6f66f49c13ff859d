// The course itself: its problems and what its pages need from the app around them.
import type express from 'express';
import type { CohortClient } from '../../src/client/client.ts';
import { escapeHtml } from '../../src/front/maintenance-page.ts';

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

/** The problem named by a URL segment (a client's text: only the course's own ids, no prototype keys). */
export const problemOf = (id: string) => (Object.hasOwn(PROBLEMS, id) ? PROBLEMS[id] : undefined);

/** Any value as HTML text. */
export const esc = (v: unknown) => escapeHtml(String(v));

/** A Cohort error's code (not_found, con_lost, conflict, ...), if it has one. */
export const code = (err: unknown) => (err as { code?: string }).code;
