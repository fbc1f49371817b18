//! Parts' SHA-512 for the upload session plan, computed from the stored
//! blob the first time a plan asks and kept (the ingest path never pays
//! for it); and recording a planned hit by linking a stored blob into
//! another session, so no byte is copied.

use super::{fsync_dir, io_err, InsertPart, PartRow, Store, StoreError};
use box_chunked_proto::Sha512Digest;
use rusqlite::{params, OptionalExtension};
use sha2::{Digest as _, Sha512};
use std::io::Read as _;

impl Store {
    /// A stored part's SHA-512: from the cache, or read from its blob once.
    pub(crate) fn part_sha512(
        &self,
        session_id: &str,
        part: &PartRow,
    ) -> Result<Sha512Digest, StoreError> {
        let cached: Option<String> = self
            .conn()
            .query_row(
                "SELECT sha512 FROM part_digests WHERE session_id = ?1 AND part_id = ?2",
                params![session_id, part.part_id],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(d) = cached.and_then(|h| Sha512Digest::from_hex(&h).ok()) {
            return Ok(d);
        }
        let path = self.blob_path(session_id, &part.part_id);
        let mut f = std::fs::File::open(&path).map_err(io_err("opening", &path))?;
        let mut h = Sha512::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).map_err(io_err("reading", &path))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        let d = Sha512Digest(h.finalize().into());
        self.conn().execute(
            "INSERT OR REPLACE INTO part_digests(session_id, part_id, sha512) VALUES (?1, ?2, ?3)",
            params![session_id, part.part_id, d.to_hex()],
        )?;
        Ok(d)
    }

    /// Records `from`'s stored part (of session `from_sid`) as part `to` of
    /// the open session `to_sid` under a new part id: its blob is
    /// hard-linked (durably) and the row written only while the session is
    /// open. The outcome and the part id used.
    pub(crate) fn record_hit(
        &self,
        from_sid: &str,
        from: &PartRow,
        to_sid: &str,
        mut to: PartRow,
        sha512: Sha512Digest,
    ) -> Result<(InsertPart, String), StoreError> {
        let src = self.blob_path(from_sid, &from.part_id);
        let dir = self.session_dir(to_sid);
        std::fs::create_dir_all(&dir).map_err(io_err("creating", &dir))?;
        let dest = loop {
            to.part_id = self.new_part_id()?;
            let dest = self.blob_path(to_sid, &to.part_id);
            match std::fs::hard_link(&src, &dest) {
                Ok(()) => break dest,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err("linking into", &dest)(e)),
            }
        };
        fsync_dir(&dir)?;
        let r = self.insert_part(to_sid, &to);
        match &r {
            Ok(InsertPart::Inserted) => {
                self.conn().execute(
                    "INSERT OR REPLACE INTO part_digests(session_id, part_id, sha512) VALUES (?1, ?2, ?3)",
                    params![to_sid, to.part_id, sha512.to_hex()],
                )?;
            }
            _ => {
                let _ = std::fs::remove_file(&dest);
            }
        }
        Ok((r?, to.part_id))
    }
}
