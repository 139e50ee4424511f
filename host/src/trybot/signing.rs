//! Who may try: with `BATON_TRY_SIGNERS` naming an ssh `allowed_signers`
//! file, a try run needs `--signature`, an `ssh-keygen -Y sign -n baton-try`
//! signature over [`message`] (the patch's sha256 and the base it was made
//! for) by one of its keys. Checked with the plugin-signature code.

use std::path::Path;

/// The ssh signature namespace of try messages.
pub const NAMESPACE: &str = "baton-try";

/// The largest signature file read.
const MAX_SIGNATURE: u64 = 64 << 10;

/// What a signer signs: the patch digest and the trusted base.
pub fn message(patch_sha256: &str, base: &str) -> String {
    format!("baton-try patch sha256:{patch_sha256} base {base}\n")
}

/// Checks `signature` over `message` against `$BATON_TRY_SIGNERS`.
pub fn check(message: &str, signature: Option<&Path>) -> Result<String, String> {
    use std::io::Read;
    let Some(allowed) = std::env::var_os(crate::env_vars::TRY_SIGNERS).filter(|v| !v.is_empty()) else {
        return Err("BATON_TRY_SIGNERS is not set".into());
    };
    let allowed = Path::new(&allowed);
    let Some(sig) = signature else {
        return Err(format!(
            "this try run needs --signature FILE: BATON_TRY_SIGNERS ({}) lists who may try; sign the output of `baton try --print-message --patch FILE` with `ssh-keygen -Y sign -n {NAMESPACE} -f KEY`",
            allowed.display()
        ));
    };
    let mut bytes = Vec::new();
    std::fs::File::open(sig)
        .and_then(|f| f.take(MAX_SIGNATURE).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read the signature {}: {e}", sig.display()))?;
    crate::registry::signature::verify_message(allowed, NAMESPACE, message, &bytes).map_err(|reason| {
        format!(
            "the signature {} is refused: {reason} (allowed signers: {}; it must sign this patch and base: {})",
            sig.display(),
            allowed.display(),
            message.trim_end()
        )
    })
}
