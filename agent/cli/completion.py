"""agent completion SHELL: print the shell completion script."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion(ctx, shell: str) -> int:
    """Print the completion script for SHELL.

    \b
    Examples:
      agent completion bash > /etc/bash_completion.d/agent
      eval "$(agent completion bash)"
      agent completion fish > ~/.config/fish/completions/agent.fish
    """
    root = ctx.find_root()
    cls = get_completion_class(shell)
    if cls is None:  # click.Choice admits only shells click has a class for
        raise click.UsageError(f"no completion support for {shell}")
    comp = cls(root.command, {}, "agent", "_AGENT_COMPLETE")
    click.echo(comp.source())
    return 0
