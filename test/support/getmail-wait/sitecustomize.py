# getmail6 before 6.19 (Debian 12 ships 6.18.11) forks for each delivery and only then installs the SIGCHLD
# handler it waits on: a delivery child that exits before the parent gets there, as happens on a loaded machine,
# leaves the parent waiting out its socket timeout (180 s by default) for a signal that came and went (getmail6
# issues #52 and #226; 6.19 waits with multiprocessing's join instead). test/support/mail-tools.ts runGetmail puts
# this directory on PYTHONPATH: the parent waits for its child with waitpid, which cannot miss it. Nothing else of
# getmail changes: what it fetches and how it writes it are its own.
import os

try:
    from getmailcore import baseclasses
    from getmailcore.exceptions import getmailOperationError
except ImportError:
    baseclasses = None

if baseclasses is not None and hasattr(baseclasses.ForkingBase, '_prepare_child'):

    def _prepare_child(self):
        pass

    def _wait_for_child(self, childpid):
        pid, status = os.waitpid(childpid, 0)
        if os.WIFSIGNALED(status):
            raise getmailOperationError('child pid %d killed by signal %d' % (pid, os.WTERMSIG(status)))
        if not os.WIFEXITED(status):
            raise getmailOperationError('child pid %d failed to exit' % pid)
        return os.WEXITSTATUS(status)

    baseclasses.ForkingBase._prepare_child = _prepare_child
    baseclasses.ForkingBase._wait_for_child = _wait_for_child
