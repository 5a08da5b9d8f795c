/**
 * refusal.js: the server's refusal of an upload (docs/API.md §15, §15a and the recipient rules of
 * issue 12: the patient of an image, the doctors the patient appointed, researchers only for
 * de-identified items) as one sentence for the send page's item, saying what to do next. The
 * worker (src/worker/send.js) calls it with the answer's status and JSON body; `names` maps a
 * username to the name the page shows, `patient` is the username the send named. Pure: no DOM,
 * no network, tested in node (test/send-pieces.test.js).
 */

/** "Jane Doe (jdoe)", or the username alone when the directory has no other name. */
function who(username, names) {
  const name = names?.[username];
  return name && name !== username ? `${name} (${username})` : username;
}

/**
 * [reason, sentence] for an upload refused with HTTP `status` and body `body` ({error, user}).
 * `context`: {patient: username | null, names: {username: display name}}. The reason is a short
 * code for tests and the page (`patient`, `appointment`, `researcher`, `session`, ...).
 */
export function refusal(status, body, { patient = null, names = {} } = {}) {
  const code = body?.error;
  const user = typeof body?.user === 'string' && body.user ? body.user : null;
  if (status === 401) return ['session', 'Your session has ended: sign in again, then send.'];
  if (status === 403 && code === 'csrf') return ['session', 'The page’s session token is stale: reload the page and sign in again.'];
  if (code === 'patient_required') {
    return ['patient', 'The server needs to know which patient this image is about: choose the patient above, then send again.'];
  }
  if (code === 'unknown_patient') {
    const p = user ?? patient;
    return ['patient', `${p ? who(p, names) : 'The chosen patient'} is not an enabled patient account: choose the patient again (reload the page to refresh the list), then send again.`];
  }
  if (code === 'patient_not_recipient') {
    return ['patient', `The patient${patient ? `, ${who(patient, names)},` : ''} must be one of the recipients (every image about a patient can be opened by that patient): reload the page and send again.`];
  }
  if (status === 403 && code === 'not_appointed') {
    if (user && patient && user === patient) {
      return ['appointment', `${who(patient, names)} has not appointed you as their doctor, and you hold no approved consent of theirs: ask them to appoint you (their “My doctors” page), or request access, then send again.`];
    }
    const doctor = user ? who(user, names) : 'One of the recipients';
    const of = patient ? who(patient, names) : 'the patient';
    return ['appointment', `${doctor} is not one of the doctors ${of} appointed: untick ${user ? who(user, names) : 'that recipient'} and send again, or ask ${of} to appoint them first (their “My doctors” page).`];
  }
  if (status === 403 && code === 'not_deidentified') {
    return ['researcher', `${user ? who(user, names) : 'A recipient'} is a researcher: researchers receive only de-identified copies. Untick them and send again.`];
  }
  if (code === 'unsigned_claim') {
    return ['refused', 'A de-identified item must be signed with your current signing key: sign in again and send again.'];
  }
  if (status === 403) {
    return ['forbidden', `You may not send to ${user ? who(user, names) : 'one of these recipients'} (the server refused their role).`];
  }
  if (status === 413) return ['too-large', 'The sealed file is larger than the server accepts.'];
  if (status === 429) return ['busy', 'You have too many unfinished uploads: wait for them or try again tomorrow.'];
  if (code === 'unknown_recipient') return ['recipient', 'A recipient’s key is no longer current: reload the page to fetch the directory again.'];
  if (code === 'bad_container') return ['refused', 'The server refused the sealed file (it did not check out).'];
  return ['server', `The server answered ${status}${code ? ` (${code})` : ''}.`];
}
