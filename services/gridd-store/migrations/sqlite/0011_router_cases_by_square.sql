-- Duplicate lookups move from a latitude band to squares of 0.002° (src/squares.rs). By
-- category and latitude, a lookup read every case of the category in a band across the whole
-- city, opened in any year: about 76 index entries per lookup after 50,000 cases, and more with
-- every day the store keeps. By category, square and opening time, it reads the cases of the
-- few squares its box touches, opened in the merge window.
ALTER TABLE router_cases ADD COLUMN square INTEGER;
-- floor(), as src/squares.rs computes it: CAST truncates toward zero, so negative values
-- that are not whole take one off. The squares of a row are 1,000,000 apart.
UPDATE router_cases SET square =
      (CAST(lat * 500 AS INTEGER) - (lat * 500 < CAST(lat * 500 AS INTEGER))) * 1000000
    + (CAST(lon * 500 AS INTEGER) - (lon * 500 < CAST(lon * 500 AS INTEGER)))
    WHERE lon IS NOT NULL AND lat IS NOT NULL;
DROP INDEX router_cases_by_place;
CREATE INDEX router_cases_by_square ON router_cases (category, square, opened_at);
-- Nothing has read by category and opening time alone since router_cases_by_place.
DROP INDEX router_cases_by_category;
-- Only camera alerts are looked up by camera. Without a camera the index held one entry per
-- case, moved by every merge (last_seen_at), for no lookup.
DROP INDEX router_cases_by_camera;
CREATE INDEX router_cases_by_camera ON router_cases (camera_key, last_seen_at) WHERE camera_key IS NOT NULL;
