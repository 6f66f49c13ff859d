/** What a critical message's sender hears: applied at the target (its reply), or delayed (kept in the outbox until the target is back). */
export type CriticalResult = { status: 'ok'; id: string; reply: unknown } | { status: 'delayed'; id: string };
