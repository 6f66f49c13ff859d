/** One write waiting for the backup to hold log entry `lsn`. */
interface Waiting {
  lsn: number;
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  /** A change that must be on both copies or on neither (a password): refused, not answered alone, when the backup falls out of step. */
  strict: boolean;
}

/**
 * The writes a home holds until its backup confirms them (home-shipper.ts), each with its own
 * deadline from the moment it was ready to be answered: what the backup holds answers them, a
 * backup out of step answers the ordinary ones (on the home alone) and refuses the strict ones,
 * and a node that stops refuses them all (their senders try again).
 */
export class WaitingWrites {
  private list: Waiting[] = [];

  /** Waits for the backup to hold `lsn`; `late` runs if it has not within `deadlineMs`. */
  add(lsn: number, strict: boolean, deadlineMs: number, late: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.list.push({ lsn, resolve, reject, strict, timer: setTimeout(late, deadlineMs) });
    });
  }

  /** The backup holds every entry up to `lsn`: those writes are answered. */
  held(lsn: number): void {
    for (const w of this.list.filter((x) => x.lsn <= lsn)) this.settle(w, null);
  }

  /**
   * The backup is out of step: strict writes are refused with `err`; ordinary ones are answered
   * (on the home alone) once `alone` resolves (the voters recorded it), or refused as it rejects.
   */
  outOfStep(err: () => Error, alone: () => Promise<void>): void {
    for (const w of [...this.list]) {
      if (w.strict) this.settle(w, err());
      else {
        this.take(w);
        alone().then(w.resolve, w.reject);
      }
    }
  }

  /** The node stops: every waiting write is refused with `err`. */
  refuseAll(err: Error): void {
    for (const w of [...this.list]) this.settle(w, err);
  }

  private take(w: Waiting): void {
    clearTimeout(w.timer);
    this.list.splice(this.list.indexOf(w), 1);
  }

  private settle(w: Waiting, err: Error | null): void {
    this.take(w);
    if (err) w.reject(err);
    else w.resolve();
  }
}
