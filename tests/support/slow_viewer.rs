//! A viewer that reads slowly (shared by tests/slow_viewer.rs and
//! benches/slow_viewer.rs): a client of its own on the Sans-IO
//! participant machine, with a 32 KiB socket receive buffer, reading at
//! most a given number of bytes per second, its screen a
//! `screen::Screen` fed the snapshots and output of one terminal.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use taiku_crypto::Link;
use taiku_proto::{Frame, TerminalId};
use taiku_session::participant::{Participant, ParticipantConfig, ParticipantEvent};
use taiku_session::screen::{Screen, ScreenModel};
use taiku_transport::drive::os_rng;
use taiku_transport::endpoint::WS_PATH;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

const MAX_FRAME: usize = taiku_proto::limits::DEFAULT_MAX_FRAME_LEN;

/// What the slow viewer ended with.
pub struct Slow {
    /// Still connected when it stopped.
    pub connected: bool,
    /// `Resynced` events: how often it was skipped forward.
    pub resyncs: usize,
    /// Its screen of the watched terminal.
    pub screen: Screen,
}

/// Join with `link` through the relay at `addr` and read at most `rate`
/// bytes per second, watching the terminal `term` names (none yet: read
/// and drop), until `done` says its screen is what it waits for or the
/// connection ends.
pub async fn slow_viewer(
    addr: SocketAddr,
    link: Link,
    rate: usize,
    term: watch::Receiver<Option<TerminalId>>,
    mut done: impl FnMut(&Screen) -> bool,
) -> Slow {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(32 * 1024).expect("rcvbuf");
    let tcp = socket.connect(addr).await.expect("connect");
    let url = format!("ws://{addr}{WS_PATH}");
    let (mut ws, _) = tokio_tungstenite::client_async(url, tcp)
        .await
        .expect("websocket");
    let mut p = Participant::new(ParticipantConfig::default(), &link, os_rng());
    p.connect(Instant::now());
    let start = Instant::now();
    let mut read = 0usize;
    let mut slow = Slow {
        connected: false,
        resyncs: 0,
        screen: Screen::new(24, 80),
    };
    loop {
        while let Some(frame) = p.poll_transmit() {
            let bytes = frame.to_bytes(MAX_FRAME).expect("encode");
            if ws.send(Message::Binary(bytes)).await.is_err() {
                return slow;
            }
        }
        // Nothing new for a while: look again whether it is done.
        let Ok(next) = tokio::time::timeout(Duration::from_millis(200), ws.next()).await else {
            if done(&slow.screen) {
                slow.connected = true;
                return slow;
            }
            continue;
        };
        let Some(Ok(msg)) = next else {
            return slow;
        };
        let Message::Binary(bytes) = msg else {
            continue;
        };
        read += bytes.len();
        if let Ok(frame) = Frame::parse(bytes, MAX_FRAME) {
            p.handle_frame(frame, Instant::now());
        }
        p.handle_timeout(Instant::now());
        let watched = *term.borrow();
        while let Some(e) = p.poll_event() {
            match e {
                ParticipantEvent::Output { term, bytes } if Some(term) == watched => {
                    slow.screen.feed(&bytes);
                }
                ParticipantEvent::Snapshot {
                    term,
                    rows,
                    cols,
                    screen,
                } if Some(term) == watched => {
                    slow.screen = Screen::new(rows as u16, cols as u16);
                    slow.screen.feed(&screen);
                }
                ParticipantEvent::Resynced { term, .. } if Some(term) == watched => {
                    slow.resyncs += 1;
                }
                _ => {}
            }
        }
        if done(&slow.screen) {
            slow.connected = true;
            return slow;
        }
        // Read no faster than the rate.
        let due = start + Duration::from_secs_f64(read as f64 / rate as f64);
        tokio::time::sleep_until(due.into()).await;
    }
}
