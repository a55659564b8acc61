/** Limits shared by server validation and the browser's input fields. */
export const NICKNAME_MAX_CHARS = 32;
export const ROOM_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const ROOM_ID_MAX_LENGTH = 64;
