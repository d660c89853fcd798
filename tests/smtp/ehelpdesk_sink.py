"""The SMTP server of eHelpdesk's tests: aiosmtpd with its own Maildir handler, which
also refuses each recipient listed in the file `refuse` beside the Maildir (one address a line) with 550, as
a mail server refuses an unknown mailbox. Run by tests/src/smtp_sink.rs:

    python -m aiosmtpd -n -l 127.0.0.1:PORT -c ehelpdesk_sink.RefusingMailbox MAILDIR
"""

import pathlib

from aiosmtpd.handlers import Mailbox


class RefusingMailbox(Mailbox):
    def __init__(self, mail_dir):
        super().__init__(mail_dir)
        self.refuse_file = pathlib.Path(mail_dir).parent / "refuse"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        refused = self.refuse_file.read_text().split() if self.refuse_file.exists() else []
        if address.lower() in (a.lower() for a in refused):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"
