-- Every committed change to a key, its grants or an alias is announced on
-- the channel `trent_changes`, so each node forgets what it cached. The
-- triggers make it true of every writer, whatever code path it takes;
-- NOTIFY is transactional (delivered at commit, dropped on rollback, one
-- per distinct payload per transaction).
--
-- Payloads: "k <region> <account> <key id>" and
-- "a <region> <account> <alias name>" (none of these contain a space).

CREATE FUNCTION trent_key_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    PERFORM pg_notify('trent_changes', 'k ' || r.region || ' ' || r.account || ' ' || r.key_id);
    RETURN NULL;
END
$$;

CREATE FUNCTION trent_alias_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    PERFORM pg_notify('trent_changes', 'a ' || r.region || ' ' || r.account || ' ' || r.name);
    IF TG_OP = 'UPDATE' AND OLD.name <> NEW.name THEN
        PERFORM pg_notify('trent_changes', 'a ' || OLD.region || ' ' || OLD.account || ' ' || OLD.name);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER keys_changed AFTER INSERT OR UPDATE OR DELETE ON keys
    FOR EACH ROW EXECUTE FUNCTION trent_key_changed();
CREATE TRIGGER grants_changed AFTER INSERT OR UPDATE OR DELETE ON grants
    FOR EACH ROW EXECUTE FUNCTION trent_key_changed();
CREATE TRIGGER aliases_changed AFTER INSERT OR UPDATE OR DELETE ON aliases
    FOR EACH ROW EXECUTE FUNCTION trent_alias_changed();
