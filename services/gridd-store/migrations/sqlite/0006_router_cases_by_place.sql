-- Duplicate lookups ask for the cases of a category within a small box around a point. By
-- category and opening time alone, every case of the category opened in the window was read
-- (thousands in a busy day, per report); by category and latitude, a lookup reads the thin
-- band of the box, and longitude and opening time are checked in the index.
CREATE INDEX router_cases_by_place ON router_cases (category, lat, lon, opened_at);
