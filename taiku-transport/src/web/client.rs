//! The browser client a relay serves (SPEC.md 12.3): `index.html` and its
//! assets, read once, bounded, and held in memory.

use super::*;

/// The committed build of `web/` (see [`WebClient::embedded`]). The build
/// script asks cargo to rebuild when the directory changes, which the
/// macro alone cannot on a stable toolchain.
#[cfg(feature = "embedded-client")]
static EMBEDDED: include_dir::Dir<'static> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/client");

/// The browser client: `index.html` and the files under `assets/`, held
/// in memory.
#[derive(Clone)]
pub struct WebClient {
    pub(super) index: Box<[u8]>,
    /// By path below `assets/`, `/`-separated.
    pub(super) assets: BTreeMap<String, Asset>,
}

#[derive(Clone)]
pub(super) struct Asset {
    pub(super) body: Box<[u8]>,
    pub(super) content_type: &'static str,
}

impl fmt::Debug for WebClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebClient")
            .field("index_bytes", &self.index.len())
            .field("assets", &self.assets.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Why a browser client cannot be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebClientError {
    /// The directory has no `index.html`.
    #[error("{} has no index.html", dir.display())]
    NoIndex {
        /// The directory.
        dir: PathBuf,
    },
    /// A file or directory cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The IO error.
        source: io::Error,
    },
    /// A file is larger than [`MAX_WEB_FILE_BYTES`].
    #[error("{} is {len} bytes, over the limit of {max}", path.display())]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// Its size (at least).
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The files together are larger than [`MAX_WEB_TOTAL_BYTES`].
    #[error("the browser client is over {max} bytes")]
    TooLarge {
        /// The limit.
        max: u64,
    },
    /// More than [`MAX_WEB_FILES`] files and directories under `assets/`.
    #[error("more than {max} files under {}", dir.display())]
    TooManyFiles {
        /// The `assets/` directory.
        dir: PathBuf,
        /// The limit.
        max: usize,
    },
    /// Directories nested deeper than [`MAX_WEB_DEPTH`] under `assets/`.
    #[error("{} is nested more than {max} directories deep", path.display())]
    TooDeep {
        /// The directory.
        path: PathBuf,
        /// The limit.
        max: usize,
    },
    /// A name outside `A-Z a-z 0-9 . - _`.
    #[error("{}: file names must be A-Z a-z 0-9 . - _", path.display())]
    BadName {
        /// The file or directory.
        path: PathBuf,
    },
    /// Neither a file nor a directory.
    #[error("{} is not a regular file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
}

impl WebClient {
    /// Load a built client from `dir`: `dir/index.html` and every file
    /// under `dir/assets/` (names starting with `.` are skipped), within
    /// [`MAX_WEB_FILE_BYTES`], [`MAX_WEB_FILES`], [`MAX_WEB_TOTAL_BYTES`]
    /// and [`MAX_WEB_DEPTH`]. Symbolic links are followed.
    pub fn load(dir: impl AsRef<Path>) -> Result<WebClient, WebClientError> {
        let dir = dir.as_ref();
        let index_path = dir.join("index.html");
        if !index_path.is_file() {
            return Err(WebClientError::NoIndex {
                dir: dir.to_path_buf(),
            });
        }
        let index = read_bounded(&index_path)?;
        let mut total = index.len() as u64;
        let mut assets = BTreeMap::new();
        let assets_dir = dir.join("assets");
        if assets_dir.is_dir() {
            let mut entries = 0usize;
            let mut pending = vec![(assets_dir.clone(), String::new(), 0usize)];
            while let Some((path, prefix, depth)) = pending.pop() {
                let listing = fs::read_dir(&path).map_err(|source| WebClientError::Io {
                    path: path.clone(),
                    source,
                })?;
                for entry in listing {
                    let entry = entry.map_err(|source| WebClientError::Io {
                        path: path.clone(),
                        source,
                    })?;
                    let entry_path = entry.path();
                    let name = entry.file_name();
                    let Some(name) = name.to_str().filter(|n| valid_name(n)) else {
                        if name.to_string_lossy().starts_with('.') {
                            continue;
                        }
                        return Err(WebClientError::BadName { path: entry_path });
                    };
                    entries += 1;
                    if entries > MAX_WEB_FILES {
                        return Err(WebClientError::TooManyFiles {
                            dir: assets_dir,
                            max: MAX_WEB_FILES,
                        });
                    }
                    let key = format!("{prefix}{name}");
                    let meta = fs::metadata(&entry_path).map_err(|source| WebClientError::Io {
                        path: entry_path.clone(),
                        source,
                    })?;
                    if meta.is_dir() {
                        if depth >= MAX_WEB_DEPTH {
                            return Err(WebClientError::TooDeep {
                                path: entry_path,
                                max: MAX_WEB_DEPTH,
                            });
                        }
                        pending.push((entry_path, format!("{key}/"), depth + 1));
                    } else if meta.is_file() {
                        let body = read_bounded(&entry_path)?;
                        total += body.len() as u64;
                        if total > MAX_WEB_TOTAL_BYTES {
                            return Err(WebClientError::TooLarge {
                                max: MAX_WEB_TOTAL_BYTES,
                            });
                        }
                        let content_type = content_type(name);
                        assets.insert(key, Asset { body, content_type });
                    } else {
                        return Err(WebClientError::NotAFile { path: entry_path });
                    }
                }
            }
        }
        Ok(WebClient { index, assets })
    }

    /// The client built from this repository's `web/` and committed under
    /// `taiku-transport/client/`, compiled into the binary (feature
    /// `embedded-client`), so a relay serves it with no Node and no files
    /// next to it. The committed build is checked by this crate's tests
    /// (it loads within the limits and equals [`WebClient::load`] of the
    /// directory) and rebuilt by CI, which fails if it differs.
    #[cfg(feature = "embedded-client")]
    #[cfg_attr(docsrs, doc(cfg(feature = "embedded-client")))]
    pub fn embedded() -> WebClient {
        let index = EMBEDDED
            .get_file("index.html")
            .map_or(&[][..], |f| f.contents());
        let mut assets = BTreeMap::new();
        let mut pending: Vec<&include_dir::Dir<'static>> =
            EMBEDDED.get_dir("assets").into_iter().collect();
        while let Some(dir) = pending.pop() {
            pending.extend(dir.dirs());
            for file in dir.files() {
                let Ok(key) = file.path().strip_prefix("assets") else {
                    continue;
                };
                let key = key.to_string_lossy().replace('\\', "/");
                let name = key.rsplit('/').next().unwrap_or_default();
                if name.starts_with('.') {
                    continue;
                }
                let content_type = content_type(name);
                let body = file.contents().into();
                assets.insert(key, Asset { body, content_type });
            }
        }
        WebClient {
            index: index.into(),
            assets,
        }
    }

    /// The asset paths below `assets/`, in order.
    pub fn asset_names(&self) -> impl Iterator<Item = &str> {
        self.assets.keys().map(String::as_str)
    }
}

/// A file or directory name the client may have: `A-Z a-z 0-9 . - _`,
/// not starting with `.` (so never `.` or `..`).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

fn read_bounded(path: &Path) -> Result<Box<[u8]>, WebClientError> {
    let io_error = |source| WebClientError::Io {
        path: path.to_path_buf(),
        source,
    };
    let too_large = |len| WebClientError::FileTooLarge {
        path: path.to_path_buf(),
        len,
        max: MAX_WEB_FILE_BYTES,
    };
    let file = fs::File::open(path).map_err(io_error)?;
    let len = file.metadata().map_err(io_error)?.len();
    if len > MAX_WEB_FILE_BYTES {
        return Err(too_large(len));
    }
    let mut body = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    // The file may grow while it is read: read one byte past the limit.
    file.take(MAX_WEB_FILE_BYTES + 1)
        .read_to_end(&mut body)
        .map_err(io_error)?;
    if body.len() as u64 > MAX_WEB_FILE_BYTES {
        return Err(too_large(body.len() as u64));
    }
    Ok(body.into_boxed_slice())
}

/// The `Content-Type` of an asset, by the extension of its name.
pub(super) fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map_or("", |(_, ext)| ext);
    match ext.to_ascii_lowercase().as_str() {
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "html" => TEXT_HTML,
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "json" | "map" => "application/json",
        "wasm" => "application/wasm",
        "txt" => TEXT_PLAIN,
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!(
                "taiku-web-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn write(&self, rel: &str, body: &[u8]) {
            let path = self.0.join(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, body).unwrap();
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// The committed client is what `WebClient::load` reads from the
    /// directory, within every limit, and serves its own script.
    #[cfg(feature = "embedded-client")]
    #[test]
    fn embedded_client_is_the_committed_build() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("client");
        let loaded = WebClient::load(&dir).unwrap();
        let embedded = WebClient::embedded();
        assert_eq!(embedded.index, loaded.index);
        assert_eq!(
            embedded.asset_names().collect::<Vec<_>>(),
            loaded.asset_names().collect::<Vec<_>>()
        );
        for (name, asset) in &loaded.assets {
            assert_eq!(embedded.assets[name].body, asset.body, "{name}");
            assert_eq!(embedded.assets[name].content_type, asset.content_type);
        }
        let index = std::str::from_utf8(&embedded.index).unwrap();
        let script = embedded
            .asset_names()
            .find(|n| n.ends_with(".js"))
            .expect("a script");
        assert!(index.contains(&format!("/assets/{script}")), "{index}");
        let page = route(Some(&embedded), "GET", "/s/AAAAAAAAAAAAAAAA");
        assert_eq!(page.status(), Status::Ok);
        assert_eq!(page.body(), &embedded.index[..]);
    }

    #[test]
    fn load_reads_index_and_assets() {
        let dir = TempDir::new("ok");
        dir.write("index.html", b"<!doctype html>");
        dir.write("assets/app-1.js", b"js");
        dir.write("assets/fonts/a.woff2", b"f");
        dir.write("assets/.DS_Store", b"x");
        dir.write("favicon.ico", b"not served");
        let web = WebClient::load(&dir.0).unwrap();
        assert_eq!(
            web.asset_names().collect::<Vec<_>>(),
            ["app-1.js", "fonts/a.woff2"]
        );
        assert_eq!(
            route(Some(&web), "GET", "/assets/fonts/a.woff2").body(),
            b"f"
        );
        assert_eq!(
            route(Some(&web), "GET", "/favicon.ico").status(),
            Status::NotFound
        );
        // No assets directory at all is fine.
        let bare = TempDir::new("bare");
        bare.write("index.html", b"x");
        assert_eq!(WebClient::load(&bare.0).unwrap().asset_names().count(), 0);
    }

    #[test]
    fn load_refuses_what_it_cannot_serve() {
        let dir = TempDir::new("noindex");
        assert!(matches!(
            WebClient::load(&dir.0),
            Err(WebClientError::NoIndex { .. })
        ));
        assert!(matches!(
            WebClient::load(dir.0.join("missing")),
            Err(WebClientError::NoIndex { .. })
        ));

        let dir = TempDir::new("big");
        dir.write("index.html", b"x");
        let path = dir.0.join("assets/big.js");
        dir.write("assets/big.js", b"");
        fs::File::create(&path)
            .unwrap()
            .set_len(MAX_WEB_FILE_BYTES + 1)
            .unwrap();
        match WebClient::load(&dir.0) {
            Err(WebClientError::FileTooLarge { path: p, len, max }) => {
                assert_eq!(
                    (p, len, max),
                    (path, MAX_WEB_FILE_BYTES + 1, MAX_WEB_FILE_BYTES)
                );
            }
            other => panic!("{other:?}"),
        }

        let dir = TempDir::new("many");
        dir.write("index.html", b"x");
        for i in 0..=MAX_WEB_FILES {
            dir.write(&format!("assets/f{i}.js"), b"");
        }
        assert!(matches!(
            WebClient::load(&dir.0),
            Err(WebClientError::TooManyFiles {
                max: MAX_WEB_FILES,
                ..
            })
        ));

        let dir = TempDir::new("name");
        dir.write("index.html", b"x");
        dir.write("assets/a b.js", b"");
        assert!(matches!(
            WebClient::load(&dir.0),
            Err(WebClientError::BadName { .. })
        ));

        let dir = TempDir::new("deep");
        dir.write("index.html", b"x");
        let nested = (0..=MAX_WEB_DEPTH)
            .map(|_| "d")
            .collect::<Vec<_>>()
            .join("/");
        dir.write(&format!("assets/{nested}/x.js"), b"");
        assert!(matches!(
            WebClient::load(&dir.0),
            Err(WebClientError::TooDeep {
                max: MAX_WEB_DEPTH,
                ..
            })
        ));

        let dir = TempDir::new("indexdir");
        fs::create_dir_all(dir.0.join("index.html")).unwrap();
        assert!(matches!(
            WebClient::load(&dir.0),
            Err(WebClientError::NoIndex { .. })
        ));
    }
}
