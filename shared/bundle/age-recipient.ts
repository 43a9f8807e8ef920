// The shape of an age X25519 recipient, for readers that must not load the age library (the config, read by
// every Lambda): `age1` then 58 bech32 characters (c2sp.org/age, "The X25519 recipient type"; bech32's alphabet
// from BIP 173). Its checksum is checked where bundles are encrypted (shared/bundle/age.ts checkRecipient).
export const AGE_X25519_RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/;
