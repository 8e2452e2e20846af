-- Only a case's history is read by key (GetTicket's history, Open311's updated_datetime). The
-- index of every record by key made each intake and dispatch record cost a second B-tree
-- entry that nothing read: two thirds of that index's pages after a camera storm, and one more
-- insert on every report's path. It now holds the ticket events alone.
DROP INDEX log_by_key;
CREATE INDEX ticket_events_by_case ON log (key, seq) WHERE topic = 'ticket-events';
