// The one shape of an id in Veil: a UUID written in lower case (key, host, guard point,
// delivery and offline key ids alike).
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
