// How people see an offline unlock's challenge and response (docs/protocol.md, "Offline
// unlock"): the base64url of the API behind a short tag. Base64url may begin with '-', which
// a command line takes for an option, and the tags keep a response from being pasted where
// a challenge belongs. Readers take either form.
const CHALLENGE_TAG = 'vc1.';
const RESPONSE_TAG = 'vr1.';

const untag = (text: string, tag: string): string => (text.startsWith(tag) ? text.slice(tag.length) : text);

export const showChallenge = (challenge: string): string => `${CHALLENGE_TAG}${challenge}`;
export const readChallenge = (text: string): string => untag(text.trim(), CHALLENGE_TAG);
export const showResponse = (response: string): string => `${RESPONSE_TAG}${response}`;
export const readResponse = (text: string): string => untag(text.trim(), RESPONSE_TAG);
