// Shell completion, generated from the commander program itself so it never drifts from the real commands:
// `mail-archiver completion bash` (or zsh, through bash's completion functions) prints a script to source.
import type { Command } from 'commander';

const optionWords = (command: Command) =>
  command.options.flatMap((o) => [o.long, o.short].filter((f): f is string => Boolean(f)));

/** Shell-quoting for words that are flags and command names (letters, digits, dashes): checked, not escaped. */
function words(list: string[]): string {
  for (const word of list) if (!/^[A-Za-z0-9-]+$/.test(word)) throw new Error(`cannot complete ${word}`);
  return list.join(' ');
}

/** The completion script for `shell`, completing commands, their options and global options; files otherwise. */
export function completionScript(program: Command, shell: 'bash' | 'zsh'): string {
  const name = program.name();
  const fn = `_${name.replace(/[^A-Za-z0-9]/g, '_')}_complete`;
  const commands = program.commands.map((c) => c.name());
  const globals = [...optionWords(program), '--help', '--version'];
  const cases = program.commands
    .map((c) => `    ${c.name()}) opts="${words([...optionWords(c), '--help'])}" ;;`)
    .join('\n');
  const bash = `# ${name} completion for ${shell}: source it, e.g. from ~/.bashrc:
#   source <(${name} completion ${shell})
${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" cmd="" opts="" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case " ${words(commands)} " in *" \${COMP_WORDS[i]} "*) cmd="\${COMP_WORDS[i]}"; break ;; esac
  done
  if [[ -z "$cmd" ]]; then
    if [[ "$cur" == -* ]]; then COMPREPLY=( $(compgen -W "${words(globals)}" -- "$cur") )
    else COMPREPLY=( $(compgen -W "${words(commands)}" -- "$cur") ); fi
    return
  fi
  case "$cmd" in
${cases}
  esac
  if [[ "$cur" == -* ]]; then COMPREPLY=( $(compgen -W "$opts ${words(globals)}" -- "$cur") )
  else COMPREPLY=( $(compgen -f -- "$cur") ); fi
}
complete -o default -F ${fn} ${name}
`;
  return shell === 'zsh' ? `autoload -U +X bashcompinit && bashcompinit\n${bash}` : bash;
}
