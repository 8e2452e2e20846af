-- Duplicate lookups move from a latitude band to squares of 0.002° (src/squares.rs): by
-- category and latitude, a lookup read every case of the category in a band across the whole
-- city, opened in any year; by category, square and opening time, it reads the cases of the
-- few squares its box touches, opened in the merge window. The squares of a row are
-- 1,000,000 apart.
ALTER TABLE router_cases ADD COLUMN square BIGINT;
UPDATE router_cases SET square = floor(lat * 500)::BIGINT * 1000000 + floor(lon * 500)::BIGINT
    WHERE lon IS NOT NULL AND lat IS NOT NULL;
DROP INDEX router_cases_by_place;
CREATE INDEX router_cases_by_square ON router_cases (category, square, opened_at);
-- Nothing has read by category and opening time alone since router_cases_by_place.
DROP INDEX router_cases_by_category;
-- Only camera alerts are looked up by camera; without a camera the index held one entry per
-- case, moved by every merge (last_seen_at), for no lookup.
DROP INDEX router_cases_by_camera;
CREATE INDEX router_cases_by_camera ON router_cases (camera_key, last_seen_at) WHERE camera_key IS NOT NULL;
