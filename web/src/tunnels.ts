// Signing the page in to the session's HTTP tunnels (the relay's
// `/t/<session>/`): ask the relay for a credential over the WebSocket, hand
// it to `POST /t/<session>/login`, which sets an HttpOnly cookie scoped to
// the session's tunnels, and renew it before it lapses. Done ahead of any
// click, so that opening a port is a plain link (a window opened after an
// await is a popup a browser may block).
//
// The token lives only in the call that logs in with it: never in the
// page's state, a URL, storage or a log. No DOM and no clock here: the
// driver supplies the effects and the time, and tests drive it by hand.

/** Renew a credential this long before it lapses. */
export const RENEW_BEFORE_MS = 60_000;
/** Never renew sooner than this after signing in (a relay cannot make the page spin). */
export const MIN_RENEW_MS = 5_000;
/** Longest lifetime believed (a relay may name any; timers are bounded). */
export const MAX_CREDENTIAL_MS = 86_400_000;
/** A request the relay has not answered by then failed. */
export const ASK_TIMEOUT_MS = 15_000;
/** Wait after a failure before trying again. */
export const RETRY_MS = 30_000;

/** What the sign-in needs from the page. */
export interface SignInDriver {
  /** Send `TunnelCredentialRequest`; false if it cannot be sent. */
  request(): boolean;
  /** `POST /t/<session>/login` with `token` as the body; true on `204`. */
  login(token: string): Promise<boolean>;
  /** Run `then` in `ms`; returns what cancels it. */
  after(ms: number, then: () => void): () => void;
  now(): number;
  /** Something shown changed. */
  changed(): void;
}

/** Where the sign-in is: what the ports list shows. */
export type SignInPhase = "idle" | "asking" | "loggingIn" | "failed";

export class TunnelSignIn {
  private phase: SignInPhase = "idle";
  private wanted = false;
  /** When the cookie set last lapses (`undefined`: no cookie that works). */
  private validUntil?: number;
  /** When to get the next credential. */
  private renewAt?: number;
  private why = "";
  /** Bumped when the connection ends: a login still in flight for it does not count. */
  private generation = 0;
  private cancelNext?: () => void;
  private cancelExpiry?: () => void;

  constructor(private readonly d: SignInDriver) {}

  /** Whether a tunnel link works now. */
  get ready(): boolean {
    return this.validUntil !== undefined && this.d.now() < this.validUntil;
  }

  /** What is happening, for the list: `ready` wins over a renewal in progress. */
  get state(): { phase: SignInPhase; ready: boolean; why: string } {
    return { phase: this.phase, ready: this.ready, why: this.why };
  }

  /**
   * Whether links are wanted now: joined with a role that may open ports,
   * and ports published. Called on every change; asks when a credential
   * is needed.
   */
  want(on: boolean): void {
    this.wanted = on;
    const due = this.renewAt === undefined || this.d.now() >= this.renewAt;
    if (on && this.phase === "idle" && due) this.ask();
  }

  /** The connection ended: credentials are bound to it and lapse with it. */
  disconnected(): void {
    this.generation += 1;
    this.cancelNext?.();
    this.cancelExpiry?.();
    this.cancelNext = this.cancelExpiry = undefined;
    this.phase = "idle";
    this.validUntil = this.renewAt = undefined;
    this.why = "";
    this.d.changed();
  }

  /** The relay's answer: log in with it now, and forget it. */
  credential(token: string, expiresInMs: number): void {
    if (this.phase !== "asking") return;
    this.cancelNext?.();
    this.phase = "loggingIn";
    this.d.changed();
    const generation = this.generation;
    const received = this.d.now();
    const life = Math.min(Math.max(0, expiresInMs), MAX_CREDENTIAL_MS);
    this.d
      .login(token)
      .catch(() => false)
      .then((ok) => {
        if (generation !== this.generation) return;
        if (!ok) return this.fail("the relay did not take the credential");
        this.phase = "idle";
        this.why = "";
        this.validUntil = received + life;
        const renewIn = Math.max(MIN_RENEW_MS, life > 2 * RENEW_BEFORE_MS ? life - RENEW_BEFORE_MS : life / 2);
        this.renewAt = received + renewIn;
        this.cancelExpiry?.();
        this.cancelExpiry = this.d.after(life, () => this.d.changed());
        this.next(renewIn);
        this.d.changed();
      });
  }

  /** The relay refused the request (`why`, for people). */
  refused(why: string): void {
    if (this.phase === "asking") this.fail(why);
  }

  private ask(): void {
    if (!this.d.request()) return this.fail("not allowed");
    this.phase = "asking";
    this.cancelNext?.();
    this.cancelNext = this.d.after(ASK_TIMEOUT_MS, () => {
      if (this.phase === "asking") this.fail("no answer from the relay");
    });
    this.d.changed();
  }

  private fail(why: string): void {
    this.phase = "failed";
    this.why = why;
    this.renewAt = undefined;
    this.cancelNext?.();
    this.cancelNext = this.d.after(RETRY_MS, () => {
      this.phase = "idle";
      this.want(this.wanted);
      this.d.changed();
    });
    this.d.changed();
  }

  /** In `ms`, get a new credential if links are still wanted (else when they are next). */
  private next(ms: number): void {
    this.cancelNext?.();
    this.cancelNext = this.d.after(ms, () => this.want(this.wanted));
  }
}
