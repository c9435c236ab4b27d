//! The typing lock of one terminal (SPEC.md 6.3), through its public
//! API: a holder locks out everyone but the owner; leaving releases it.

use std::time::{Duration, Instant};

use taiku_proto::ParticipantId;
use taiku_session::access::{Control, FocusLock, LockChange, Refusal};

const OWNER: ParticipantId = ParticipantId(1);
const A: ParticipantId = ParticipantId(2);
const B: ParticipantId = ParticipantId(3);
const HOLD: Duration = Duration::from_millis(1500);

#[test]
fn a_holder_locks_out_everyone_but_the_owner() {
    let t0 = Instant::now();
    let control = Control::new(OWNER);
    let mut lock = FocusLock::default();
    assert_eq!(lock.check(B, &control, t0), Ok(()));
    assert_eq!(
        lock.take(A, t0, HOLD),
        LockChange::Taken {
            arm: Some(t0 + HOLD)
        }
    );
    assert_eq!(lock.check(B, &control, t0), Err(Refusal::FocusLocked));
    assert_eq!(lock.check(A, &control, t0), Ok(()));
    assert_eq!(lock.check(OWNER, &control, t0), Ok(()));
    // Renewed without a second timer; expired once the time is up.
    let t1 = t0 + Duration::from_millis(500);
    assert_eq!(lock.take(A, t1, HOLD), LockChange::Renewed { arm: None });
    assert_eq!(lock.expire(t0 + HOLD), LockChange::Later(t1 + HOLD));
    assert_eq!(lock.check(B, &control, t1 + HOLD), Ok(()));
    assert_eq!(lock.expire(t1 + HOLD), LockChange::Released);
    assert_eq!(lock.expire(t1 + HOLD), LockChange::None);
}

#[test]
fn the_owner_takes_the_lock_and_leaving_releases_it() {
    let t0 = Instant::now();
    let mut lock = FocusLock::default();
    lock.take(A, t0, HOLD);
    assert_eq!(lock.take(OWNER, t0, HOLD), LockChange::Taken { arm: None });
    assert_eq!(lock.holder(t0), Some(OWNER));
    assert_eq!(lock.release(A), LockChange::None);
    assert_eq!(lock.release(OWNER), LockChange::Released);
    assert_eq!(lock.holder(t0), None);
}
