// The importer's readers live in the core (shared/history/sources.ts); this module keeps the CLI's import path.
export {
  describeOrigin,
  readSources,
  type SourceItem,
  type SourceMessage,
  totalBytes,
} from '../shared/history/sources';
