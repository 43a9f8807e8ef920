// The history import lives in the core (shared/history/import.ts); this module keeps the CLI's import path.
export {
  checkImportOptions,
  DEFAULT_IMPORT_CONCURRENCY,
  deriveRecipients,
  type ImportOptions,
  type ImportReport,
  type ImportTarget,
  importMessages,
} from '../shared/history/import';
