-- A live status's microblog item id is unique per author: the insert
-- itself refuses a taken one (no read before the write).
CREATE UNIQUE INDEX statuses_live_item ON statuses (author, item_id) WHERE deleted = 0;
